// `parley hook`: the command-hook form of POST /hooks/<agent>, for events and agents that cannot
// call an HTTP hook (Claude Code's SessionStart, every Codex hook). The agent's stdin JSON goes to
// the server as is; the server's answer is printed for the agent to read.
//
// Both agents read a hook's JSON decision only when it exits 0, and treat exit 2 as "block, and
// show stderr to the model". A decision therefore always travels as JSON with exit 0, and nothing
// here ever exits 2: Parley being down, slow to accept, or refusing the key must never stop or
// steer an agent, so every failure is one line on stderr, nothing on stdout, exit 0.
import { parseArgs } from 'node:util'
import { ConfigError, loadClientConfig } from '../config.ts'
import { HOOK_AGENTS, type HookAgentName as HookAgent, MAX_HOOK_TIMEOUT_S } from '../core/hooks/payload.ts'

export type { HookAgent }

const warn = (line: string) => process.stderr.write(`parley hook: ${line}\n`)

/** How long a request may go unanswered before the server is asked whether it is there at all. */
const GRACE_MS = 2000
/** How long that question may take: past it the server counts as unreachable. */
const PROBE_MS = 2000
/** How many times a request answered 503 (a machine stopping) is sent again. */
const MAX_RETRIES = 5

export function parseAgent(value: unknown): HookAgent {
  const agent = value ?? 'claude-code'
  if (typeof agent !== 'string' || !Object.hasOwn(HOOK_AGENTS, agent))
    throw new Error('--agent must be claude-code or codex')
  return agent as HookAgent
}

/** A server URL given on the command line (hooks configured per project may point elsewhere). */
export function parseServerUrl(value: unknown, fallback: string): string {
  if (value === undefined) return fallback
  const raw = String(value)
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new Error('--url must be an http:// or https:// URL')
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error('--url must be an http:// or https:// URL')
  return raw.replace(/\/+$/, '')
}

/** The endpoint a hook of `agent` posts to; `timeout` is the agent's hook timeout, in seconds. */
export function hookEndpoint(url: string, agent: HookAgent, timeout?: number): string {
  return `${url}/hooks/${agent}${timeout ? `?timeout=${timeout}` : ''}`
}

export function parseTimeout(value: unknown): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0 || n > MAX_HOOK_TIMEOUT_S)
    throw new Error(`--timeout must be a whole number of seconds from 1 to ${MAX_HOOK_TIMEOUT_S}`)
  return n
}

const never = new Promise<never>(() => {})

/**
 * Resolves to true when the server turns out not to be there while a request waits: a held
 * request (an open question) is fine as long as the server still answers its health check.
 */
async function unreachable(url: string, signal: AbortSignal): Promise<true> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, GRACE_MS)
    signal.addEventListener('abort', () => clearTimeout(timer))
  })
  if (signal.aborted) return never
  try {
    const probe = AbortSignal.any([signal, AbortSignal.timeout(PROBE_MS)])
    const res = await fetch(`${url}/healthz`, { signal: probe })
    await res.body?.cancel()
    if (res.ok || signal.aborted) return never
  } catch {
    if (signal.aborted) return never
  }
  return true
}

/** Relays one hook event; returns the exit code (always 0 once the arguments are understood). */
export async function relayHook(args: string[]): Promise<number> {
  let agent: HookAgent
  let url: string
  let apiKey: string | null
  let timeout: number | undefined
  try {
    const { values } = parseArgs({
      args,
      options: { agent: { type: 'string' }, url: { type: 'string' }, timeout: { type: 'string' } },
      strict: true,
    })
    agent = parseAgent(values.agent)
    timeout = parseTimeout(values.timeout)
    const client = loadClientConfig()
    url = parseServerUrl(values.url, client.url)
    apiKey = client.apiKey
  } catch (err) {
    // Exit 1 is a non-blocking error to both agents: shown to the person, never to the model.
    warn(err instanceof ConfigError ? err.message : (err as Error).message)
    return 1
  }
  const skip = (why: string) => {
    warn(`${why}; the agent goes on without Parley`)
    return 0
  }
  if (!apiKey) return skip('PARLEY_API_KEY is not set')
  const body = await Bun.stdin.text()
  const done = new AbortController()
  try {
    const send = async (): Promise<Response | true> => {
      const request = fetch(hookEndpoint(url, agent, timeout), {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body,
        signal: done.signal,
      })
      request.catch(() => {}) // when the server is given up on, its request is aborted: nobody waits for it
      return Promise.race([request, unreachable(url, done.signal)])
    }
    let res = await send()
    // A machine that stops while the request waits answers 503: the same request, sent again,
    // reaches a running machine and takes its question back (with any answer given meanwhile).
    for (let retries = 0; res !== true && res.status === 503 && retries < MAX_RETRIES; retries++) {
      await res.body?.cancel()
      await Bun.sleep(Math.min(10, Number(res.headers.get('retry-after')) || 1) * 1000)
      res = await send()
    }
    if (res === true) return skip(`${url} did not answer`)
    const text = await res.text()
    if (res.status === 401 || res.status === 403) return skip(`the API key was refused (${res.status})`)
    if (!res.ok) return skip(`${url} answered ${res.status}: ${errorMessage(text)}`)
    let answer: unknown
    try {
      answer = JSON.parse(text)
    } catch {
      return skip(`${url} answered something that is not JSON`)
    }
    // `{}` is "no decision": printing nothing says the same to both agents, and keeps a
    // SessionStart hook from adding a stray "{}" to the model's context.
    if (answer && typeof answer === 'object' && Object.keys(answer).length > 0)
      process.stdout.write(`${JSON.stringify(answer)}\n`)
    return 0
  } catch (err) {
    const e = err as Error & { code?: string }
    return skip(`cannot reach ${url} (${e.code ?? e.message})`)
  } finally {
    done.abort()
  }
}

function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } }
    if (parsed.error?.message) return parsed.error.message
  } catch {}
  return text.slice(0, 200) || 'no body'
}
