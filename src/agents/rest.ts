// The agent REST API under /api/v1, wire-compatible with Omnara's (see OMNARA_API.md), plus the
// additive extensions: long-poll `wait`, `options`, `timeout_seconds` and `Idempotency-Key`.
import { Elysia } from 'elysia'
import type { KeyVerifier } from '../auth/api-keys.ts'
import type { Config } from '../config.ts'
import type { Core } from '../core/context.ts'
import { normalizeGitDiff } from '../core/git-diff.ts'
import { describeInstance, endSession, heartbeat, registerInstance, updateStatus } from '../core/instances.ts'
import { postAgentMessage, postUserMessage } from '../core/messages.ts'
import { getPending, requestInput } from '../core/pending.ts'
import { holdPresence } from '../core/presence.ts'
import { canonicalUuid, omnaraTimeFromDate, toWireMessage } from '../core/wire.ts'
import { InvalidInput, Unauthorized, Unavailable } from '../errors.ts'
import { agentAuth } from './auth.ts'
import {
  agentMessageBody,
  instanceIdBody,
  pendingQuery,
  registerBody,
  statusBody,
  userMessageBody,
} from './schemas.ts'

export type AgentDeps = {
  core: Core
  keys: KeyVerifier
  stopping: AbortSignal
  /** Whether Fly-Client-IP names the client (bad keys are counted per address). */
  config?: Pick<Config, 'behindFlyProxy'>
}

export const MAX_WAIT_SECONDS = 60

export function uuidField(value: string, field: string): string {
  const id = canonicalUuid(value)
  if (!id) throw new InvalidInput(field, `${field} must be a UUID`)
  return id
}

function webhookUrl(metadata: Record<string, unknown> | null | undefined): void {
  const url = metadata?.webhook_url
  if (url === undefined || url === null || url === '') return
  let ok = false
  try {
    ok = typeof url === 'string' && ['http:', 'https:'].includes(new URL(url).protocol)
  } catch {}
  if (!ok)
    throw new InvalidInput(
      'message_metadata.webhook_url',
      'message_metadata.webhook_url must be an http(s) URL',
    )
}

function waitSeconds(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0 || n > MAX_WAIT_SECONDS) {
    throw new InvalidInput('wait', `wait must be a number of seconds between 0 and ${MAX_WAIT_SECONDS}`)
  }
  return n
}

export const agentRest = (deps: AgentDeps) =>
  new Elysia({ name: 'parley.agents.rest', prefix: '/api/v1' })
    .use(agentAuth(deps.keys, deps.config))
    .post(
      '/messages/agent',
      async ({ body, principal, headers }) => {
        const instanceId = body.agent_instance_id
          ? uuidField(body.agent_instance_id, 'agent_instance_id')
          : crypto.randomUUID()
        webhookUrl(body.message_metadata)
        const idempotencyKey = headers['idempotency-key']?.trim() || null
        if (idempotencyKey && idempotencyKey.length > 200) {
          throw new InvalidInput('Idempotency-Key', 'Idempotency-Key header must be at most 200 characters')
        }
        const result = await postAgentMessage(deps.core, {
          userId: principal.userId,
          instanceId,
          agentType: body.agent_type || null,
          content: body.content,
          requiresUserInput: body.requires_user_input ?? false,
          options: body.options ?? null,
          timeoutSeconds: body.timeout_seconds ?? null,
          gitDiff: normalizeGitDiff(body.git_diff),
          metadata: body.message_metadata ?? null,
          idempotencyKey,
        })
        return {
          success: true,
          agent_instance_id: result.instanceId,
          message_id: result.messageId,
          queued_user_messages: result.queued.map(toWireMessage),
        }
      },
      { body: agentMessageBody, detail: { summary: 'Post a step or a question as an agent' } },
    )
    .get(
      '/messages/pending',
      async ({ query, principal, request, server }) => {
        const instanceId = uuidField(query.agent_instance_id, 'agent_instance_id')
        const lastRead = query.last_read_message_id
          ? uuidField(query.last_read_message_id, 'last_read_message_id')
          : null
        const wait = waitSeconds(query.wait)
        // Long-polls outlive Bun's 10 s idle timeout: lift it for this request only.
        if (wait > 0) server?.timeout(request, 0)
        // A parked long-poll is the agent's sign of life: its instance is not DISCONNECTED.
        const release = wait > 0 ? holdPresence(deps.core, principal.userId, instanceId) : () => {}
        // A key revoked while it waits ends the wait at once (401), not at the next poll.
        const key = deps.keys.holdWhileValid(principal)
        const result = await getPending(deps.core, {
          userId: principal.userId,
          instanceId,
          lastRead,
          waitMs: wait * 1000,
          signal: AbortSignal.any([request.signal, deps.stopping, key.signal]),
        }).finally(() => {
          release()
          key.release()
        })
        // What was read has moved the cursor: it is delivered even if the key died meanwhile.
        if (key.signal.aborted && result.messages.length === 0)
          throw new Unauthorized('API key was revoked or expired while the request waited')
        if (deps.stopping.aborted && result.status === 'ok' && result.messages.length === 0) {
          throw new Unavailable('Server is restarting; poll again')
        }
        return {
          agent_instance_id: query.agent_instance_id,
          messages: result.messages.map(toWireMessage),
          status: result.status,
        }
      },
      { query: pendingQuery, detail: { summary: 'Read (or wait for) user messages after a cursor' } },
    )
    .post(
      '/messages/user',
      async ({ body, principal }) => {
        const markAsRead = body.mark_as_read ?? true
        const result = await postUserMessage(deps.core, {
          actorUserId: principal.userId,
          instanceId: uuidField(body.agent_instance_id, 'agent_instance_id'),
          content: body.content,
          markAsRead,
          channel: 'api',
        })
        return { success: true, message_id: result.messageId, marked_as_read: markAsRead }
      },
      { body: userMessageBody, detail: { summary: 'Post a user message (answers an open question)' } },
    )
    .patch(
      '/messages/:message_id/request-input',
      async ({ params, principal }) => {
        const messageId = uuidField(params.message_id, 'message_id')
        const result = await requestInput(deps.core, principal.userId, messageId)
        return {
          success: true,
          message_id: messageId,
          agent_instance_id: result.instanceId,
          messages: result.messages.map(toWireMessage),
          status: result.status,
        }
      },
      { detail: { summary: 'Turn an earlier agent message into a question' } },
    )
    .post(
      '/sessions/end',
      async ({ body, principal }) => {
        const instanceId = uuidField(body.agent_instance_id, 'agent_instance_id')
        const { status } = await endSession(deps.core, principal.userId, instanceId)
        return { success: true, agent_instance_id: instanceId, final_status: status }
      },
      { body: instanceIdBody, detail: { summary: 'End a session (COMPLETED)' } },
    )
    .post(
      '/agent-instances',
      async ({ body, principal, set }) => {
        const instanceId = body.agent_instance_id
          ? uuidField(body.agent_instance_id, 'agent_instance_id')
          : crypto.randomUUID()
        const inst = await registerInstance(deps.core, {
          userId: principal.userId,
          agentType: body.agent_type,
          instanceId,
          name: body.name ?? null,
          transport: body.transport || null,
        })
        set.status = 201
        return {
          agent_instance_id: inst.id,
          agent_type_id: inst.agentTypeId,
          agent_type_name: inst.agentTypeName,
          status: inst.status,
          name: inst.name,
          instance_metadata: inst.metadata ?? null,
        }
      },
      { body: registerBody, detail: { summary: 'Pre-register an agent instance' } },
    )
    .get(
      '/agent-instances/:id',
      async ({ params, principal }) =>
        instanceShape(await describeInstance(deps.core, principal.userId, uuidField(params.id, 'id'))),
      { detail: { summary: 'Describe an agent instance (used by Omnara SDK after a 409)' } },
    )
    .put(
      '/agent-instances/:id/status',
      async ({ params, body, principal }) =>
        instanceShape(
          await updateStatus(deps.core, principal.userId, uuidField(params.id, 'id'), body.status),
        ),
      { body: statusBody, detail: { summary: 'End with a status (COMPLETED or FAILED)' } },
    )
    .post(
      '/agents/instances/:id/heartbeat',
      async ({ params, principal }) => {
        const instanceId = uuidField(params.id, 'agent_instance_id')
        const { lastHeartbeatAt } = await heartbeat(deps.core, principal.userId, instanceId)
        return { agent_instance_id: instanceId, last_heartbeat_at: `${omnaraTimeFromDate(lastHeartbeatAt)}Z` }
      },
      { detail: { summary: 'Liveness ping' } },
    )
    .get(
      '/auth/verify',
      ({ principal }) => ({
        success: true,
        user_id: principal.userId,
        email: principal.email,
        display_name: principal.displayName,
        message: 'Authentication successful',
      }),
      { detail: { summary: 'Check an API key' } },
    )

const instanceShape = (i: Awaited<ReturnType<typeof describeInstance>>) => ({
  id: i.id,
  agent_type_id: i.agentTypeId,
  agent_type_name: i.agentTypeName,
  status: i.status,
  name: i.name,
  instance_metadata: i.metadata ?? null,
})
