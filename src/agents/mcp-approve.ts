// `approve`: Claude Code's permission-prompt tool (`--permission-prompt-tool mcp__parley__approve`).
// Same question text and answer matching as Omnara's, so habits carry over. "Approve for the rest
// of the session" is remembered per instance with the hooks' one rule (core/session-approvals.ts):
// this tool has no permission suggestions, so it covers exactly this call again.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { latestLiveInstance } from '../core/instances.ts'
import { postAgentMessage } from '../core/messages.ts'
import {
  allowedForSession,
  rememberApprovals,
  type SessionRule,
  sessionRules,
} from '../core/session-approvals.ts'
import { canonicalUuid } from '../core/wire.ts'
import { askAndWait, detectAgentType, type McpContext, ToolFailure, text, toolError } from './mcp-tools.ts'

type Decision =
  | { behavior: 'allow'; updatedInput: Record<string, unknown> }
  | { behavior: 'deny'; message: string }

const pyStr = (v: unknown): string =>
  v === true ? 'True' : v === false ? 'False' : v === null || v === undefined ? 'None' : String(v)

/** Renders a tool input as Omnara did: one bold key per entry, nested objects indented. */
export function inputMarkdown(input: Record<string, unknown>): string {
  const lines: string[] = []
  for (const [key, value] of Object.entries(input)) {
    lines.push(`**${key}:**`)
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const l of inputMarkdown(value as Record<string, unknown>).split('\n')) lines.push(`  ${l}`)
    } else if (Array.isArray(value)) {
      for (const item of value) lines.push(`  - ${pyStr(item)}`)
    } else if (typeof value === 'string' && value.includes('\n')) {
      lines.push('```', value, '```')
    } else {
      lines.push(`  ${pyStr(value)}`)
    }
    lines.push('')
  }
  return lines.join('\n').trimEnd()
}

/**
 * The question, what its second option remembers (the one rule hooks use too), and that
 * option's exact text, which is what a press on it answers.
 */
export function permissionQuestion(
  toolName: string,
  input: Record<string, unknown>,
): { rules: SessionRule[]; text: string; forSession: string } {
  const rules = sessionRules(toolName, input, null)
  if (toolName === 'Bash') {
    const command = typeof input.command === 'string' ? input.command : ''
    const program = command.trim().split(/\s+/)[0] || 'command'
    const forSession = 'Yes and approve this exact command for rest of session'
    return {
      rules,
      forSession,
      text:
        `Allow execution of Bash ${program}?\n\n**Full command:**\n\`\`\`bash\n${command}\n\`\`\`\n\n` +
        `[OPTIONS]\n1. Yes\n2. ${forSession}\n3. No\n[/OPTIONS]`,
    }
  }
  const forSession = `Yes and approve this exact ${toolName} call for rest of session`
  return {
    rules,
    forSession,
    text:
      `Allow execution of ${toolName}?\n\n**Input:**\n${inputMarkdown(input)}\n\n` +
      `[OPTIONS]\n1. Yes\n2. ${forSession}\n3. No\n[/OPTIONS]`,
  }
}

async function resolveInstance(ctx: McpContext, explicit: string | null | undefined): Promise<string> {
  const given = canonicalUuid(explicit ?? ctx.instanceHeader ?? '')
  if (given) return given
  const { userId } = ctx.principal
  const recent = await latestLiveInstance(ctx.core.db, userId, detectAgentType(ctx.clientType, ctx.userAgent))
  if (recent) return recent
  const created = await postAgentMessage(ctx.core, {
    userId,
    instanceId: crypto.randomUUID(),
    agentType: 'Claude Code',
    content: 'Permission request',
    requiresUserInput: false,
  })
  return created.instanceId
}

export function registerApprove(mcp: McpServer, ctx: McpContext) {
  mcp.registerTool(
    'approve',
    {
      description:
        'Handles Claude Code permission prompts (use it as --permission-prompt-tool). Never call it yourself.',
      inputSchema: {
        tool_name: z.string(),
        input: z.record(z.string(), z.unknown()),
        tool_use_id: z.string().nullable().optional(),
        agent_instance_id: z.string().nullable().optional(),
      },
      outputSchema: z.object({}).passthrough(),
    },
    async (args, extra) => {
      try {
        const instanceId = await resolveInstance(ctx, args.agent_instance_id)
        const { rules, forSession, text: question } = permissionQuestion(args.tool_name, args.input)
        const allow: Decision = { behavior: 'allow', updatedInput: args.input }
        const call = { tool: args.tool_name, input: args.input }
        if (await allowedForSession(ctx.core.db, instanceId, ctx.principal.userId, call)) return text(allow)
        let answer: string
        try {
          answer = (await askAndWait(ctx, extra as never, { instanceId, content: question })).answer.trim()
        } catch (err) {
          if (!(err instanceof ToolFailure)) throw err
          return text({ behavior: 'deny', message: 'Permission request timed out' } satisfies Decision)
        }
        if (answer === 'Yes') return text(allow)
        if (answer === forSession) {
          await rememberApprovals(ctx.core.db, instanceId, rules)
          return text(allow)
        }
        const message = answer === 'No' ? 'Permission denied by user' : `Permission denied by user: ${answer}`
        return text({ behavior: 'deny', message } satisfies Decision)
      } catch (err) {
        return toolError('approve', err)
      }
    },
  )
}
