// `parley run [--name N] [--session ID] -- CMD …`: runs CMD in a pseudo-terminal and streams that
// terminal to the relay, so it can be watched and typed into from the dashboard. The terminal it
// was started from keeps working exactly as if CMD ran there directly (raw keys, Ctrl-C, resizes),
// and `parley run` exits with CMD's status, so it can wrap anything, in a shell or in CI.
//
// The instance is registered over REST before the socket opens (so heartbeats have something to
// beat for), kept alive with heartbeats, and ended COMPLETED (exit 0) or FAILED at the end.
// Parley being down never stops the command: the link reconnects and the REST calls are retried
// or skipped. Only a refusal (bad key, someone else's instance) stops it before CMD starts.
import { constants } from 'node:os'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, loadClientConfig } from '../config.ts'
import { canonicalUuid } from '../core/wire.ts'
import { RelayLink } from './relay-link.ts'

const warn = (line: string) => process.stderr.write(`\r\nparley run: ${line}\r\n`)

/** Omnara's wrappers beat every 30 s; the server counts an instance gone well after that. */
const HEARTBEAT_MS = 30_000
/** How long one REST call may take before it counts as failed. */
const REST_TIMEOUT_MS = 10_000
/** After CMD exits, how long its last output may still take to come out of the terminal. */
const DRAIN_MS = 500

class Refused extends Error {}

type Rest = (method: string, path: string, body?: unknown) => Promise<Response>

function restClient(url: string, apiKey: string): Rest {
  return (method, path, body) =>
    fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REST_TIMEOUT_MS),
    })
}

/**
 * Creates the instance, or finds it already ours (409). True once it exists; false when the server
 * could not be reached (try again later); throws Refused when it never will work.
 */
async function register(rest: Rest, body: Record<string, unknown>): Promise<boolean> {
  let res: Response
  try {
    res = await rest('POST', '/agent-instances', body)
  } catch {
    return false
  }
  const json = (await res.json().catch(() => ({}))) as { detail?: string }
  if (res.status === 201 || res.status === 409) return true
  if (res.status === 401) throw new Refused('the API key was refused (revoked, expired or unknown)')
  if (res.status >= 500) return false
  throw new Refused(`${res.status}: ${json.detail ?? res.statusText}`)
}

/** CMD's exit status as a shell reports it: its code, or 128 + the signal that killed it. */
export function exitStatus(proc: {
  exitCode: number | null
  signalCode: number | NodeJS.Signals | null
}): number {
  const signal = proc.signalCode
  if (typeof signal === 'number') return 128 + signal
  if (signal) return 128 + constants.signals[signal]
  return proc.exitCode ?? 1
}

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    options: { name: { type: 'string' }, session: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  })
  if (positionals.length === 0) throw new Error('run needs a command: parley run [--name N] -- CMD …')
  return { name: values.name, session: values.session, command: positionals }
}

export async function runCommand(args: string[]): Promise<number> {
  let opts: ReturnType<typeof parse>
  let client: ReturnType<typeof loadClientConfig>
  let instanceId: string
  try {
    opts = parse(args)
    client = loadClientConfig()
    if (!client.apiKey) throw new Error('PARLEY_API_KEY is required')
    const given = opts.session ?? client.sessionId
    const id = given === null ? crypto.randomUUID() : canonicalUuid(given)
    if (!id) throw new Error('--session (or PARLEY_SESSION_ID) must be an instance id (a UUID)')
    instanceId = id
  } catch (err) {
    process.stderr.write(`parley run: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`)
    return 2
  }
  const rest = restClient(client.url, client.apiKey)
  const name = opts.name ?? opts.command.join(' ').slice(0, 200)
  const registration = {
    agent_instance_id: instanceId,
    agent_type: basename(opts.command[0]!),
    name,
    transport: 'relay',
  }
  let registered: boolean
  try {
    registered = await register(rest, registration)
  } catch (err) {
    process.stderr.write(`parley run: ${(err as Error).message}\n`)
    return 1
  }
  if (!registered) warn(`cannot reach ${client.url} yet; running anyway and trying again`)

  const stdin = process.stdin
  const stdout = process.stdout
  const size = () =>
    stdout.isTTY ? { rows: stdout.rows || 24, cols: stdout.columns || 80 } : { rows: 24, cols: 80 }
  let current = size()
  let drained: () => void = () => {}
  const eof = new Promise<void>((resolve) => {
    drained = resolve
  })
  let link: RelayLink | null = null
  const proc = Bun.spawn(opts.command, {
    terminal: {
      ...current,
      data: (_term, data) => {
        stdout.write(data)
        link?.output(data)
      },
      exit: () => drained(),
    },
  })
  const terminal = proc.terminal!
  const write = (data: Uint8Array | string) => {
    if (!terminal.closed) terminal.write(data)
  }
  const resize = (rows: number, cols: number) => {
    if (rows < 1 || cols < 1 || terminal.closed) return
    current = { rows, cols }
    terminal.resize(cols, rows)
  }
  const wsUrl = new URL('/relay/agent', client.url.replace(/^http/, 'ws'))
  wsUrl.searchParams.set('session_id', instanceId)
  link = new RelayLink({
    url: wsUrl.toString(),
    apiKey: client.apiKey,
    metadata: () => ({ name, cwd: process.cwd(), command: opts.command }),
    size: () => current,
    onInput: write,
    onResize: resize,
    warn,
  })

  // Keys go to CMD untouched: in raw mode Ctrl-C is a byte, and the pseudo-terminal turns it into
  // CMD's SIGINT, as a terminal would.
  const raw = stdin.isTTY === true
  if (raw) stdin.setRawMode(true)
  const onKeys = (data: Buffer) => write(data)
  stdin.on('data', onKeys)
  const onLocalResize = () => {
    const s = size()
    resize(s.rows, s.cols)
    link?.resized(s.rows, s.cols)
  }
  stdout.on('resize', onLocalResize)
  // Without a terminal (CI), signals reach parley itself: hand them on to CMD.
  const forward = (signal: NodeJS.Signals) => () => proc.kill(signal)
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const)
  for (const [s, h] of handlers) process.on(s, h)

  const beat = setInterval(async () => {
    try {
      if (!registered) registered = await register(rest, registration)
      if (registered) await rest('POST', `/agents/instances/${instanceId}/heartbeat`)
    } catch {} // a missed beat is not worth a word: the link already says when Parley is away
  }, HEARTBEAT_MS)

  await proc.exited
  const status = exitStatus(proc)
  try {
    // The last output can trail the exit by a moment; a background child holding the terminal
    // open must not hold parley too.
    await Promise.race([eof, Bun.sleep(DRAIN_MS)])
  } finally {
    clearInterval(beat)
    for (const [s, h] of handlers) process.off(s, h)
    stdout.off('resize', onLocalResize)
    stdin.off('data', onKeys)
    if (raw) stdin.setRawMode(false)
    stdin.pause()
    terminal.close()
  }
  const ended = (async () => {
    if (!registered) registered = await register(rest, registration).catch(() => false)
    if (!registered) return
    const res = await rest('PUT', `/agent-instances/${instanceId}/status`, {
      status: status === 0 ? 'COMPLETED' : 'FAILED',
    }).catch(() => null)
    if (!res?.ok) warn(`could not mark the session ended (${res?.status ?? 'unreachable'})`)
  })()
  await Promise.all([ended, link.close()])
  return status
}
