// `parley run [--name N] [--session ID] -- CMD …`: runs CMD in a pseudo-terminal and streams that
// terminal to the relay, so it can be watched and typed into from the dashboard. The terminal it
// was started from keeps working exactly as if CMD ran there directly (raw keys, Ctrl-C, resizes),
// and `parley run` exits with CMD's status, so it can wrap anything, in a shell or in CI.
//
// Parley being down never stops the command: the link reconnects and the REST calls are retried
// or skipped (run-instance.ts). Only a refusal (bad key, someone else's instance) stops it before
// CMD starts.
import { fstatSync } from 'node:fs'
import { constants } from 'node:os'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import type { Subprocess } from 'bun'
import { ConfigError, loadClientConfig } from '../config.ts'
import { canonicalUuid } from '../core/wire.ts'
import { RelayLink } from './relay-link.ts'
import { RunInstance } from './run-instance.ts'

/** One line on stderr; on a raw terminal it needs its own line start, amid CMD's screen. */
const warn = (line: string) =>
  process.stderr.write(process.stdin.isTTY ? `\r\nparley run: ${line}\r\n` : `parley run: ${line}\n`)

/** After CMD exits, how long its last output may still take to come out of the terminal. */
const DRAIN_MS = 500

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
  const client = loadClientConfig()
  if (!client.apiKey) throw new Error('PARLEY_API_KEY is required')
  const given = values.session ?? client.sessionId
  const id = given === null ? crypto.randomUUID() : canonicalUuid(given)
  if (!id) throw new Error('--session (or PARLEY_SESSION_ID) must be an instance id (a UUID)')
  const command = positionals
  const name = values.name ?? command.join(' ').slice(0, 200)
  return {
    url: client.url,
    apiKey: client.apiKey,
    command,
    info: { id, name, agentType: basename(command[0]!) },
  }
}

export async function runCommand(args: string[]): Promise<number> {
  let opts: ReturnType<typeof parse>
  try {
    opts = parse(args)
  } catch (err) {
    process.stderr.write(`parley run: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`)
    return 2
  }
  const instance = new RunInstance(opts.url, opts.apiKey, opts.info)
  try {
    if (!(await instance.register())) warn(`cannot reach ${opts.url} yet; running anyway and trying again`)
  } catch (err) {
    process.stderr.write(`parley run: ${(err as Error).message}\n`)
    return 1
  }
  instance.startBeating()
  // Beside /api/v1, under whatever path PARLEY_URL has.
  const wsUrl = `${opts.url.replace(/^http/, 'ws').replace(/\/+$/, '')}/relay/agent?session_id=${opts.info.id}`
  let terminal: Bun.Terminal | null = null
  let current = localSize()
  const resize = (rows: number, cols: number) => {
    if (rows < 1 || cols < 1 || !terminal || terminal.closed) return
    current = { rows, cols }
    terminal.resize(cols, rows)
  }
  const link = new RelayLink({
    url: wsUrl,
    apiKey: opts.apiKey,
    metadata: () => ({ name: opts.info.name, cwd: process.cwd(), command: opts.command }),
    size: () => current,
    onInput: (data) => {
      if (terminal && !terminal.closed) terminal.write(data)
    },
    onResize: resize,
    warn,
  })
  let status: number
  try {
    let drained: () => void = () => {}
    const eof = new Promise<void>((resolve) => {
      drained = resolve
    })
    const proc = Bun.spawn(opts.command, {
      terminal: {
        ...current,
        data: (_term, data) => {
          process.stdout.write(data)
          link.output(data)
        },
        exit: () => drained(),
      },
    })
    terminal = proc.terminal!
    status = await attached(proc, terminal, eof, (s) => {
      resize(s.rows, s.cols)
      link.resized(s.rows, s.cols)
    })
  } catch (err) {
    // As a shell says it: 127 for a command that is not there, 126 for one that cannot run.
    const e = err as Error & { code?: string }
    warn(e.message)
    status = e.code === 'ENOENT' ? 127 : 126
  }
  // The terminal first, then the session: a terminal still open would make it live again.
  await link.close()
  const problem = await instance.end(status)
  if (problem) warn(problem)
  return status
}

/** Ctrl-D: a terminal's end of file. */
const EOF = '\x04'

/** Standard input is a pipe or a file: input was given, and its end is CMD's end of input. */
function inputGiven(): boolean {
  try {
    const st = fstatSync(0)
    return st.isFIFO() || st.isFile()
  } catch {
    return false
  }
}

const localSize = () =>
  process.stdout.isTTY
    ? { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 }
    : { rows: 24, cols: 80 }

/**
 * Joins the local terminal to CMD's until CMD exits, and gives it back as it was; resolves to
 * CMD's exit status.
 */
async function attached(
  proc: Subprocess,
  terminal: Bun.Terminal,
  eof: Promise<void>,
  onLocalResize: (size: { rows: number; cols: number }) => void,
): Promise<number> {
  const { stdin, stdout } = process
  // Keys go to CMD untouched: in raw mode Ctrl-C is a byte, and the pseudo-terminal turns it into
  // CMD's SIGINT, as a terminal would.
  const raw = stdin.isTTY === true
  if (raw) stdin.setRawMode(true)
  let lastByte = 0x0a
  const onKeys = (data: Buffer) => {
    if (data.length > 0) lastByte = data[data.length - 1]!
    if (!terminal.closed) terminal.write(data)
  }
  stdin.on('data', onKeys)
  // Input given through a pipe or a file (`echo hi | parley run -- cat`) ends: CMD gets the end of
  // file its terminal would give, Ctrl-D (twice after a partial line: the first sends the line).
  // Not for /dev/null (CI, nohup): nothing was given, and people may still type from the dashboard.
  const onEnd = () => {
    if (!terminal.closed) terminal.write(lastByte === 0x0a ? EOF : EOF + EOF)
  }
  if (!raw && inputGiven()) stdin.once('end', onEnd)
  const onResize = () => onLocalResize(localSize())
  stdout.on('resize', onResize)
  // Without a terminal (CI), signals reach parley itself: hand them on to CMD.
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, () => proc.kill(s)] as const)
  for (const [s, h] of handlers) process.on(s, h)
  try {
    await proc.exited
    // The last output can trail the exit by a moment; a background child holding the terminal
    // open must not hold parley too.
    await Promise.race([eof, Bun.sleep(DRAIN_MS)])
    return exitStatus(proc)
  } finally {
    for (const [s, h] of handlers) process.off(s, h)
    stdout.off('resize', onResize)
    stdin.off('data', onKeys)
    stdin.off('end', onEnd)
    if (raw) stdin.setRawMode(false)
    stdin.pause()
    terminal.close()
  }
}
