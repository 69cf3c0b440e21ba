// Parley as separate machines: real `bun src/main.ts` processes on one Postgres, as Fly runs them.
// Each one's JSON log is read line by line; its URL comes from its "listening" line.
import { join } from 'node:path'
import { connectPostgres } from '../../src/db/client.ts'

const ROOT = join(import.meta.dir, '..', '..')

export type Machine = Awaited<ReturnType<typeof startMachine>>

/** An empty database (nothing migrated) on the DATABASE_URL server; `drop` removes it. */
export async function emptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL!
  const name = `parley_m_${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`
  const admin = connectPostgres(base, { max: 1 })
  await admin.query(`create database ${name}`)
  await admin.close()
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const a = connectPostgres(base, { max: 1 })
      await a.query(`drop database if exists ${name} with (force)`)
      await a.close()
    },
  }
}

/** Starts `bun src/main.ts` on `databaseUrl`; resolves once it listens. */
export async function startMachine(databaseUrl: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn(['bun', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, DATABASE_URL: databaseUrl, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const lines: Record<string, unknown>[] = []
  let listening: (url: string) => void = () => {}
  const url = new Promise<string>((resolve) => {
    listening = resolve
  })
  const read = (async () => {
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true })
      let nl = buffered.indexOf('\n')
      while (nl >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        nl = buffered.indexOf('\n')
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>
          lines.push(parsed)
          const m = /listening on http:\/\/localhost:(\d+)/.exec(String(parsed.msg ?? ''))
          if (m) listening(`http://127.0.0.1:${m[1]}`)
        } catch {
          lines.push({ msg: line })
        }
      }
    }
  })()
  const exited = proc.exited.then(async (code) => {
    await read
    return code
  })
  const base = await Promise.race([
    url,
    exited.then((code) => {
      throw new Error(`parley exited (${code}) before listening: ${JSON.stringify(lines.slice(-5))}`)
    }),
  ])
  return {
    url: base,
    pid: proc.pid,
    lines,
    exited,
    /** Log lines whose message contains `text`. */
    logged: (text: string) => lines.filter((l) => String(l.msg ?? '').includes(text)),
    signal: (sig: 'SIGTERM' | 'SIGKILL') => proc.kill(sig),
    /** Stops it (SIGTERM) if it still runs, and waits for it. */
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      return exited
    },
  }
}
