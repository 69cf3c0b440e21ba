// The Omnara-compatible MCP tools: log_step, ask_question, end_session. Argument names, result
// shapes and error texts follow Omnara's hosted server (OMNARA_API.md §8), minus its leaks.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import type { KeyPrincipal } from '../auth/api-keys.ts'
import type { Core } from '../core/context.ts'
import { MAX_CONTENT_CHARS } from '../core/context.ts'
import { endSession } from '../core/instances.ts'
import { postAgentMessage } from '../core/messages.ts'
import { consumeAnswer, questionsAnsweredBy, waitForAnswer } from '../core/pending.ts'
import { holdPresence } from '../core/presence.ts'
import { countSteps } from '../core/steps.ts'
import { canonicalUuid } from '../core/wire.ts'
import { Unauthorized } from '../errors.ts'

export type McpContext = {
  core: Core
  principal: KeyPrincipal
  clientType: string | null
  userAgent: string | null
  instanceHeader: string | null
  stopping: AbortSignal
  requestSignal: AbortSignal
  /** Aborted when the request's API key is revoked or expires (KeyVerifier.holdWhileValid). */
  keySignal: AbortSignal
  progressMs: number
  askTimeoutMs: number
  track: (requestId: unknown, controller: AbortController) => () => void
}

type Extra = {
  signal: AbortSignal
  requestId: unknown
  _meta?: { progressToken?: string | number }
  sendNotification: (n: {
    method: 'notifications/progress'
    params: Record<string, unknown>
  }) => Promise<void>
}

export class ToolFailure extends Error {}

export const text = (value: object) => ({
  content: [{ type: 'text' as const, text: JSON.stringify(value) }],
  structuredContent: value as Record<string, unknown>,
})

/** Omnara's tool-error shape: a result with isError, not a JSON-RPC error. */
export const toolError = (tool: string, err: unknown) => ({
  content: [{ type: 'text' as const, text: `Error calling tool '${tool}': ${(err as Error).message}` }],
  isError: true,
})

export function instanceIdArg(value: string | null | undefined, required: boolean): string {
  if (!value) {
    if (required) throw new ToolFailure('agent_instance_id is required')
    return crypto.randomUUID()
  }
  const id = canonicalUuid(value)
  if (!id) throw new ToolFailure(`Invalid agent_instance_id format: must be a valid UUID, got '${value}'`)
  return id
}

/** Agent type from X-Client-Type, else guessed from the User-Agent as Omnara did (§8.6). */
export function detectAgentType(clientType: string | null, userAgent: string | null): string {
  if (clientType?.trim()) return clientType
  const ua = (userAgent ?? '').toLowerCase()
  if (ua.includes('cursor')) return 'cursor'
  if (ua.includes('claude'))
    return ua.includes('claude-code') || ua.includes('claude code') ? 'claude-code' : 'claude'
  if (ua.includes('cline'))
    return ua.includes('roo-cline') || ua.includes('roo cline') ? 'roo-cline' : 'cline'
  for (const name of ['windsurf', 'witsy', 'enconvo']) if (ua.includes(name)) return name
  if (ua.includes('vscode') || ua.includes('code')) return 'vscode'
  if (ua.includes('postman')) return 'postman'
  return 'unknown'
}

/**
 * Asks a question and blocks until it is answered. Sends progress while waiting, stops on client
 * cancellation or disconnect, and when the API key dies. If the caller goes away the question
 * stays open: its answer stays queued behind the cursor and reaches the agent with its next
 * log_step, marked late.
 */
export async function askAndWait(
  ctx: McpContext,
  extra: Extra,
  input: { instanceId: string; content: string; options?: string[] | null },
): Promise<{ answer: string; questionId: string }> {
  const { userId } = ctx.principal
  // Tracked before the question is written: a cancellation sent as soon as it shows is not missed.
  const cancelled = new AbortController()
  const untrack = ctx.track(extra.requestId, cancelled)
  let posted: Awaited<ReturnType<typeof postAgentMessage>>
  try {
    posted = await postAgentMessage(ctx.core, {
      userId,
      instanceId: input.instanceId,
      agentType: detectAgentType(ctx.clientType, ctx.userAgent),
      content: input.content,
      requiresUserInput: true,
      options: input.options ?? null,
    })
  } catch (err) {
    untrack()
    throw err
  }
  const release = holdPresence(ctx.core, userId, input.instanceId)
  const signal = AbortSignal.any([
    extra.signal,
    ctx.requestSignal,
    ctx.stopping,
    cancelled.signal,
    ctx.keySignal,
  ])
  const started = Date.now()
  const token = extra._meta?.progressToken
  const total = Math.round(ctx.askTimeoutMs / 1000)
  try {
    const found = await waitForAnswer(ctx.core, {
      userId,
      instanceId: input.instanceId,
      questionId: posted.messageId,
      deadline: started + ctx.askTimeoutMs,
      signal,
      tickMs: ctx.progressMs,
      onTick: async () => {
        if (token === undefined) return
        const progress = Math.round((Date.now() - started) / 1000)
        await extra
          .sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress, total, message: 'Waiting for a human to answer' },
          })
          .catch(() => {})
      },
    })
    if (!found) {
      // Not a ToolFailure: `approve` must not turn a dead key into a decision (not even "deny").
      if (ctx.keySignal.aborted)
        throw new Unauthorized('API key was revoked or expired while the call waited')
      if (ctx.stopping.aborted) {
        throw new ToolFailure(
          'Parley is restarting. Your question stays open; its answer will arrive with your next log_step call.',
        )
      }
      if (signal.aborted) throw new ToolFailure('Cancelled; the question stays open')
      throw new ToolFailure('Question timed out waiting for user response')
    }
    await consumeAnswer(ctx.core, input.instanceId, posted.messageId, found.answer.id)
    if (token !== undefined) {
      await extra
        .sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: total, total },
        })
        .catch(() => {})
    }
    return { answer: found.answer.content, questionId: posted.messageId }
  } finally {
    release()
    untrack()
  }
}

export function registerTools(mcp: McpServer, ctx: McpContext) {
  const { core } = ctx
  const { userId } = ctx.principal

  mcp.registerTool(
    'log_step',
    {
      description:
        'Log a high-level step before every significant action (reading files, editing, running commands, ' +
        'answering). Returns user_feedback: messages the user sent since your last step. Read them, act on ' +
        'them and put them ahead of your plan. Omit agent_instance_id on the first call to start a session; ' +
        'reuse the returned id afterwards.',
      inputSchema: {
        agent_instance_id: z.string().nullable().optional(),
        step_description: z.string().max(MAX_CONTENT_CHARS).default(''),
      },
      outputSchema: {
        success: z.boolean(),
        agent_instance_id: z.string(),
        step_number: z.number().int(),
        user_feedback: z.array(z.string()),
      },
    },
    async (args) => {
      try {
        const instanceId = instanceIdArg(args.agent_instance_id, false)
        if (!args.step_description) throw new ToolFailure('step_description is required')
        const posted = await postAgentMessage(core, {
          userId,
          instanceId,
          agentType: detectAgentType(ctx.clientType, ctx.userAgent),
          content: args.step_description,
          requiresUserInput: false,
        })
        const late = await questionsAnsweredBy(
          core,
          instanceId,
          posted.queued.map((m) => m.id),
        )
        const feedback = posted.queued.map((m) => {
          const question = late.get(m.id)
          return question === undefined
            ? m.content
            : `[late answer to your question "${question.slice(0, 120)}"] ${m.content}`
        })
        const steps = await countSteps(core.db, instanceId)
        return text({
          success: true,
          agent_instance_id: instanceId,
          step_number: steps,
          user_feedback: feedback,
        })
      } catch (err) {
        return toolError('log_step', err)
      }
    },
  )

  mcp.registerTool(
    'ask_question',
    {
      description:
        'Ask the user a question and wait for the answer (this blocks until they reply, from the web, Slack ' +
        'or Telegram). Call log_step first. Be specific, give context, ask one thing at a time; offer choices ' +
        'in `options` when there are some.',
      inputSchema: {
        agent_instance_id: z.string().nullable().optional(),
        question_text: z.string().max(MAX_CONTENT_CHARS).nullable().optional(),
        options: z.array(z.string().min(1).max(200)).max(20).nullable().optional(),
      },
      outputSchema: { answer: z.string(), question_id: z.string() },
    },
    async (args, extra) => {
      try {
        if (!args.agent_instance_id) throw new ToolFailure('agent_instance_id is required')
        if (!args.question_text) throw new ToolFailure('question_text is required')
        const instanceId = instanceIdArg(args.agent_instance_id, true)
        const { answer, questionId } = await askAndWait(ctx, extra as unknown as Extra, {
          instanceId,
          content: args.question_text,
          options: args.options,
        })
        return text({ answer, question_id: questionId })
      } catch (err) {
        return toolError('ask_question', err)
      }
    },
  )

  mcp.registerTool(
    'end_session',
    {
      description:
        'Mark the session completed. Summarise what you did and confirm with the user through ask_question ' +
        'first; call this only after they confirm, when they ask to stop, or after an unrecoverable error.',
      inputSchema: { agent_instance_id: z.string() },
      outputSchema: { success: z.boolean(), agent_instance_id: z.string(), final_status: z.string() },
    },
    async (args) => {
      try {
        const instanceId = instanceIdArg(args.agent_instance_id, true)
        const { status } = await endSession(core, userId, instanceId)
        return text({ success: true, agent_instance_id: instanceId, final_status: status })
      } catch (err) {
        return toolError('end_session', err)
      }
    },
  )
}
