// `parley hook install`: the hooks configuration that attaches Claude Code or Codex to Parley,
// printed, or merged into the agent's own settings file so that what is there stays there and a
// second run changes nothing.
//
// Claude Code calls Parley directly (HTTP hooks; the key comes from the agent's environment through
// `allowedEnvVars`, so it is never written to disk), except for SessionStart, which it sends only to
// command hooks. Codex has command hooks only. Each hook's URL carries its `timeout`, so the server
// can answer "no decision" just before the agent would give up on it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadClientConfig } from '../config.ts'
import { type HookAgent, hookEndpoint, parseAgent, parseServerUrl, parseTimeout } from './hook.ts'

type Hook =
  | {
      type: 'http'
      url: string
      headers: Record<string, string>
      allowedEnvVars: string[]
      timeout: number
    }
  | { type: 'command'; command: string; timeout: number }
type Group = { matcher?: string; hooks: Hook[] }
export type HooksConfig = Record<string, Group[]>

/** How long a question may wait for its answer before the agent falls back to its own prompt. */
export const ANSWER_TIMEOUT_S = 3600
/** Events Parley only records: a slow or absent server must not hold the agent up for long. */
const RECORD_TIMEOUT_S = 15

const commandLine = (agent: HookAgent, url: string, timeout: number) =>
  `parley hook${agent === 'codex' ? ' --agent codex' : ''} --url ${url} --timeout ${timeout}`

export function claudeCodeHooks(url: string, answerTimeout = ANSWER_TIMEOUT_S): HooksConfig {
  const http = (timeout: number): Hook => ({
    type: 'http',
    url: hookEndpoint(url, 'claude-code', timeout),
    headers: { Authorization: 'Bearer $PARLEY_API_KEY' },
    allowedEnvVars: ['PARLEY_API_KEY'],
    timeout,
  })
  const record = [{ hooks: [http(RECORD_TIMEOUT_S)] }]
  return {
    SessionStart: [
      {
        hooks: [
          {
            type: 'command',
            command: commandLine('claude-code', url, RECORD_TIMEOUT_S),
            timeout: RECORD_TIMEOUT_S,
          },
        ],
      },
    ],
    UserPromptSubmit: record,
    PreToolUse: [{ matcher: 'AskUserQuestion', hooks: [http(answerTimeout)] }],
    PermissionRequest: [{ matcher: '*', hooks: [http(answerTimeout)] }],
    Notification: record,
    Stop: record,
    SessionEnd: record,
  }
}

export function codexHooks(url: string, answerTimeout = ANSWER_TIMEOUT_S): HooksConfig {
  const command = (timeout: number): Group[] => [
    { hooks: [{ type: 'command', command: commandLine('codex', url, timeout), timeout }] },
  ]
  return {
    SessionStart: command(RECORD_TIMEOUT_S),
    UserPromptSubmit: command(RECORD_TIMEOUT_S),
    PermissionRequest: command(answerTimeout),
    Stop: command(RECORD_TIMEOUT_S),
    SessionEnd: command(RECORD_TIMEOUT_S),
  }
}

/** A hook this command wrote (on an earlier run, perhaps with another URL or timeout). */
function isParleyHook(agent: HookAgent, hook: unknown): boolean {
  if (!hook || typeof hook !== 'object') return false
  const h = hook as { type?: unknown; url?: unknown; command?: unknown }
  if (h.type === 'http' && typeof h.url === 'string') return /\/hooks\/claude-code(\?|$)/.test(h.url)
  if (h.type !== 'command' || typeof h.command !== 'string') return false
  if (!/^parley hook(\s|$)/.test(h.command)) return false
  return h.command.includes('--agent codex') === (agent === 'codex')
}

/**
 * `settings` with Parley's hooks in place of any it had: other hooks, groups and settings are
 * kept in their order, ours go last in each event, so running it again gives the same result.
 */
export function mergeHooks(settings: Record<string, unknown>, agent: HookAgent, ours: HooksConfig) {
  const hooks = settings.hooks ?? {}
  if (typeof hooks !== 'object' || Array.isArray(hooks)) throw new Error('its "hooks" is not an object')
  const merged: Record<string, unknown> = { ...(hooks as Record<string, unknown>) }
  for (const [event, groups] of Object.entries(ours)) {
    const present = merged[event] ?? []
    if (!Array.isArray(present)) throw new Error(`its "hooks.${event}" is not a list`)
    const kept = present.flatMap((group: unknown) => {
      const list = (group as { hooks?: unknown })?.hooks
      if (!Array.isArray(list)) return [group]
      const others = list.filter((h) => !isParleyHook(agent, h))
      if (others.length === list.length) return [group]
      return others.length ? [{ ...(group as object), hooks: others }] : []
    })
    merged[event] = [...kept, ...groups]
  }
  return { ...settings, hooks: merged }
}

export function settingsPath(agent: HookAgent, scope: 'project' | 'user', codexHome: string | null): string {
  if (agent === 'claude-code')
    return scope === 'user' ? join(homedir(), '.claude', 'settings.json') : join('.claude', 'settings.json')
  return scope === 'user'
    ? join(codexHome ?? join(homedir(), '.codex'), 'hooks.json')
    : join('.codex', 'hooks.json')
}

function readSettings(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {}
  const text = readFileSync(path, 'utf8')
  if (!text.trim()) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new Error(`${path} is not valid JSON; fix it or move it away, then run this again`)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new Error(`${path} does not hold a JSON object`)
  return parsed as Record<string, unknown>
}

/** Prints the configuration, or merges it into the agent's settings file; returns the exit code. */
export function installHooks(args: string[], out = console.log, err = console.error): number {
  try {
    const { values } = parseArgs({
      args,
      options: {
        agent: { type: 'string' },
        project: { type: 'boolean' },
        user: { type: 'boolean' },
        write: { type: 'boolean' },
        url: { type: 'string' },
        timeout: { type: 'string' },
      },
      strict: true,
    })
    if (values.project && values.user) throw new Error('give --project or --user, not both')
    const agent = parseAgent(values.agent)
    const client = loadClientConfig()
    const url = parseServerUrl(values.url, client.url)
    const timeout = parseTimeout(values.timeout) ?? ANSWER_TIMEOUT_S
    const ours = agent === 'codex' ? codexHooks(url, timeout) : claudeCodeHooks(url, timeout)
    const path = settingsPath(agent, values.user ? 'user' : 'project', client.codexHome)
    if (!values.write) {
      out(JSON.stringify({ hooks: ours }, null, 2))
      err(`parley: add this to ${path}, or run again with --write to merge it there`)
      return 0
    }
    const before = readSettings(path)
    let merged: Record<string, unknown>
    try {
      merged = mergeHooks(before, agent, ours)
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}; nothing was written`)
    }
    const text = `${JSON.stringify(merged, null, 2)}\n`
    if (existsSync(path) && readFileSync(path, 'utf8') === text) {
      out(`${path} already has Parley's hooks`)
      return 0
    }
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, text)
    out(`wrote Parley's hooks for ${agent} to ${path}`)
    if (!client.apiKey)
      err("parley: the hooks read PARLEY_API_KEY from the agent's environment: export it first")
    if (agent === 'codex')
      err('parley: Codex runs new hooks once trusted: open /hooks in Codex and trust them')
    return 0
  } catch (e) {
    err(`parley hook install: ${(e as Error).message}`)
    return 1
  }
}
