// Tool approvals through hooks: PermissionRequest, and PreToolUse of a tool a person routed through
// Parley. One question with Allow / Allow for this session / Deny; the answer becomes the decision
// in the shape each event and agent honours (CLAUDE_CODE.md, CODEX.md). "Allow for this session" is
// remembered (core/session-approvals.ts) so the same request later is allowed without asking.
import { answerSummary } from '../answer-wording.ts'
import type { Core } from '../context.ts'
import { allowedForSession, rememberApprovals, sessionRules } from '../session-approvals.ts'
import { APPROVAL_OPTIONS, approvalQuestion, pickedOption } from './approval-text.ts'
import type { ToolCall } from './payload.ts'
import { askHookQuestion, awaitHookAnswer, type Hold, type HookAnswer, postHookMessage } from './questions.ts'
import type { HookSession } from './session.ts'

export type Decision =
  | { behavior: 'allow'; forSession: boolean; reason: string }
  | { behavior: 'deny'; message: string }

/**
 * The decision an answer makes; the agent is told who decided, in the one answer wording. Only a
 * button allows: typed words, even "allow", deny with the words as the message, so one reply
 * that answers several open approvals at once never allows them all.
 */
export function decisionOf(a: HookAnswer): Decision {
  if (!a.pressed) return { behavior: 'deny', message: a.content.trim() }
  const option = pickedOption(a.content)
  const line = answerSummary({
    by: a.by,
    via: a.via,
    answer: a.content,
    options: APPROVAL_OPTIONS,
    pressed: a.pressed,
  })
  if (option === 'Allow' || option === 'Allow for this session')
    return { behavior: 'allow', forSession: option !== 'Allow', reason: line }
  return { behavior: 'deny', message: line }
}

/** Asks (unless remembered) and waits; null when nobody decided in time. */
export async function decideToolCall(
  core: Core,
  s: HookSession,
  call: ToolCall & { event: string; cwd: string | null; suggestions?: unknown[] | null },
  hold: Hold,
): Promise<Decision | null> {
  const remembers = sessionRules(call.tool, call.input, call.suggestions ?? null)
  const { content, summary } = approvalQuestion(call.tool, call.input, remembers)
  const meta = { agent: s.agent, event: call.event, kind: 'approval' as const, tool: call.tool, summary }
  if (await allowedForSession(core.db, s.instanceId, s.userId, call)) {
    // Kept on the record like any decision, without asking anyone.
    const reason = `Allowed for this session earlier: ${summary}`
    await postHookMessage(core, s, { content: reason, meta })
    return { behavior: 'allow', forSession: false, reason }
  }
  const questionId = await askHookQuestion(core, s, {
    content,
    options: [...APPROVAL_OPTIONS],
    meta,
  })
  const answer = await awaitHookAnswer(core, s, questionId, hold)
  if (!answer) return null
  const decision = decisionOf(answer)
  if (decision.behavior === 'allow' && decision.forSession)
    await rememberApprovals(core.db, s.instanceId, remembers)
  return decision
}

/** PermissionRequest output. Codex refuses `updatedPermissions`; Claude Code takes its suggestions back. */
export function permissionRequestOutput(
  s: HookSession,
  d: Decision,
  suggestions: unknown[] | null,
): Record<string, unknown> {
  const giveBack = d.behavior === 'allow' && d.forSession && s.agent === 'claude_code' && suggestions?.length
  const decision =
    d.behavior === 'allow'
      ? { behavior: 'allow', ...(giveBack ? { updatedPermissions: suggestions } : {}) }
      : { behavior: 'deny', message: d.message }
  return { hookSpecificOutput: { hookEventName: 'PermissionRequest', decision } }
}

/** PreToolUse output. Codex refuses a PreToolUse allow: it gets no decision and asks by itself. */
export function preToolUseOutput(s: HookSession, d: Decision): Record<string, unknown> {
  if (d.behavior === 'allow' && s.agent === 'codex') return {}
  return {
    hookSpecificOutput: {
      hookEventName: 'PreToolUse',
      permissionDecision: d.behavior,
      permissionDecisionReason: d.behavior === 'allow' ? d.reason : d.message,
    },
  }
}
