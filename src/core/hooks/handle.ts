// One hook event in, the JSON the hook prints out ({} when Parley has nothing to say). The payload
// is checked whole before anything is written; then the session's instance is found or created
// and the event recorded. Events that need a person hold until `hold.deadline` (Parley's margin
// before the hook's own timeout) or until the agent goes away (`hold.signal`).
import { answerSummary } from '../answer-wording.ts'
import { type Core, MAX_CONTENT_CHARS } from '../context.ts'
import { endSession } from '../instances.ts'
import { decideToolCall, permissionRequestOutput, preToolUseOutput } from './approval.ts'
import { askUserQuestions, type Question, readQuestions } from './ask-user.ts'
import { type HookAgent, type HookPayload, readHookPayload } from './payload.ts'
import { closeOpenQuestions, type Hold, hasOpenQuestion, postHookMessage } from './questions.ts'
import { type HookSession, hookSession, recordPrompt, startSession } from './session.ts'
import { peekSteering, steeringReason, takeSteering } from './steering.ts'

export type HookOutput = Record<string, unknown>

/** First, so the inbox row's preview of the instance says it. */
export const WAITING_LINE = 'Waiting for your next instruction.'

/**
 * The agent finished its turn. A question still open was answered at its terminal (Claude Code
 * does not close a PermissionRequest it answered itself): it is closed first, so a message sent
 * now is steering, not an answer to it. The messages are taken last, after everything is written,
 * so a Stop that fails on the way hands them to the next one instead of losing them.
 */
async function stop(core: Core, s: HookSession, p: Extract<HookPayload, { event: 'Stop' }>) {
  await closeOpenQuestions(core, s)
  const last = p.lastAssistantMessage?.trim() ?? ''
  const steers = (await peekSteering(core, s)).length > 0
  if (steers) {
    if (last) await postHookMessage(core, s, { content: last })
  } else {
    await postHookMessage(core, s, { content: last ? `${WAITING_LINE}\n\n${last}` : WAITING_LINE })
  }
  const steering = await takeSteering(core, s)
  return steering.length > 0 ? { decision: 'block', reason: steeringReason(steering) } : {}
}

async function preToolUse(
  core: Core,
  s: HookSession,
  p: Extract<HookPayload, { event: 'PreToolUse' }>,
  questions: Question[] | null,
  hold: Hold,
): Promise<HookOutput> {
  if (questions) {
    const asked = await askUserQuestions(core, s, questions, hold)
    if (!asked) return {}
    return {
      hookSpecificOutput: {
        hookEventName: 'PreToolUse',
        permissionDecision: 'allow',
        permissionDecisionReason: answerSummary(asked.last),
        updatedInput: { ...p.input, answers: asked.answers },
      },
    }
  }
  const decision = await decideToolCall(core, s, p, hold)
  return decision ? preToolUseOutput(s, decision) : {}
}

export async function handleHook(
  core: Core,
  input: { userId: string; agent: HookAgent; body: Record<string, unknown>; hold: Hold },
): Promise<HookOutput> {
  const p = readHookPayload(input.body)
  const questions = p.event === 'PreToolUse' && p.tool === 'AskUserQuestion' ? readQuestions(p.input) : null
  const s = await hookSession(core, input.userId, input.agent, p)
  switch (p.event) {
    case 'SessionStart':
      await startSession(core, s)
      return {}
    case 'SessionEnd':
      await closeOpenQuestions(core, s)
      await endSession(core, s.userId, s.instanceId)
      return {}
    case 'UserPromptSubmit':
      await recordPrompt(core, s, p.prompt.slice(0, MAX_CONTENT_CHARS))
      return {}
    case 'Notification':
      // While a question is open it already says what the agent waits for.
      if (!(await hasOpenQuestion(core, s))) await postHookMessage(core, s, { content: p.message })
      return {}
    case 'Stop':
      return stop(core, s, p)
    case 'PermissionRequest': {
      // AskUserQuestion is asked through PreToolUse; its permission prompt is its own dialog,
      // which is where the agent falls back to when that hook had no answer.
      if (p.tool === 'AskUserQuestion') return {}
      const decision = await decideToolCall(core, s, p, input.hold)
      return decision ? permissionRequestOutput(s, decision, p.suggestions) : {}
    }
    case 'PreToolUse':
      return preToolUse(core, s, p, questions, input.hold)
    default:
      return {}
  }
}
