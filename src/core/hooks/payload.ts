// What Claude Code and Codex send to a hook on stdin (and POST to an HTTP hook), read once here:
// every field the hooks use is checked by event, and a bad one is refused naming it before
// anything is written. Unknown events and extra fields are accepted, as new CLI versions add them.
import { InvalidInput } from '../../errors.ts'
import { checkStorable } from '../storable.ts'

/** The agents with hooks: the name in URLs and on the command line -> the agent type. */
export const HOOK_AGENTS = { 'claude-code': 'claude_code', codex: 'codex' } as const

/** The longest hook timeout Parley holds a request for (`?timeout=`, and `parley hook --timeout`). */
export const MAX_HOOK_TIMEOUT_S = 86_400
/** An agent as named in `/hooks/<name>` and `parley hook --agent <name>`. */
export type HookAgentName = keyof typeof HOOK_AGENTS
export type HookAgent = (typeof HOOK_AGENTS)[HookAgentName]

export type ToolCall = { tool: string; input: Record<string, unknown> }

export type HookPayload = {
  sessionId: string
  cwd: string | null
  /** Not sent by the agents themselves: a command-hook wrapper may add it. */
  gitBranch: string | null
} & (
  | { event: 'SessionStart'; source: string | null }
  | { event: 'SessionEnd'; reason: string | null }
  | { event: 'UserPromptSubmit'; prompt: string }
  | { event: 'Notification'; message: string; notificationType: string | null }
  | { event: 'Stop'; lastAssistantMessage: string | null; stopHookActive: boolean }
  | ({ event: 'PermissionRequest'; suggestions: unknown[] | null } & ToolCall)
  | ({ event: 'PreToolUse' } & ToolCall)
  | { event: 'other'; name: string }
)

type Raw = Record<string, unknown>

function str(raw: Raw, field: string, required: true): string
function str(raw: Raw, field: string, required: false): string | null
function str(raw: Raw, field: string, required: boolean): string | null {
  const v = raw[field]
  if (v === undefined || v === null) {
    if (required) throw new InvalidInput(field, `${field}: is required`)
    return null
  }
  if (typeof v !== 'string') throw new InvalidInput(field, `${field}: must be a string`)
  if (required && v.trim() === '') throw new InvalidInput(field, `${field}: must not be empty`)
  return v
}

function object(raw: Raw, field: string): Record<string, unknown> {
  const v = raw[field]
  if (v === undefined || v === null) throw new InvalidInput(field, `${field}: is required`)
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidInput(field, `${field}: must be an object`)
  return v as Record<string, unknown>
}

function toolCall(raw: Raw): ToolCall {
  return { tool: str(raw, 'tool_name', true), input: object(raw, 'tool_input') }
}

/** Checks a hook's stdin JSON and names the first bad field (422). */
export function readHookPayload(raw: Raw): HookPayload {
  // Text the database cannot store, anywhere in the payload, keys included: `tool_input.command`.
  checkStorable(raw)
  const sessionId = str(raw, 'session_id', true).trim()
  if (sessionId.length > 200)
    throw new InvalidInput('session_id', 'session_id: must be at most 200 characters')
  const base = { sessionId, cwd: str(raw, 'cwd', false), gitBranch: str(raw, 'git_branch', false) }
  const name = str(raw, 'hook_event_name', true)
  switch (name) {
    case 'SessionStart':
      return { ...base, event: name, source: str(raw, 'source', false) }
    case 'SessionEnd':
      return { ...base, event: name, reason: str(raw, 'reason', false) }
    case 'UserPromptSubmit':
      return { ...base, event: name, prompt: str(raw, 'prompt', true) }
    case 'Notification':
      return {
        ...base,
        event: name,
        message: str(raw, 'message', true),
        notificationType: str(raw, 'notification_type', false),
      }
    case 'Stop': {
      const active = raw.stop_hook_active
      if (active !== undefined && active !== null && typeof active !== 'boolean')
        throw new InvalidInput('stop_hook_active', 'stop_hook_active: must be a boolean')
      return {
        ...base,
        event: name,
        lastAssistantMessage: str(raw, 'last_assistant_message', false),
        stopHookActive: active === true,
      }
    }
    case 'PermissionRequest': {
      const s = raw.permission_suggestions
      if (s !== undefined && s !== null && !Array.isArray(s))
        throw new InvalidInput('permission_suggestions', 'permission_suggestions: must be an array')
      return { ...base, event: name, ...toolCall(raw), suggestions: s ?? null }
    }
    case 'PreToolUse':
      return { ...base, event: name, ...toolCall(raw) }
    default:
      return { ...base, event: 'other', name }
  }
}
