// Parley in a child process (bench/server.ts), for the benchmarks that measure what parked requests
// cost the server: its RSS without the client's sockets in it, forced GCs, its bus listeners, and
// the database work done while nothing happens (Parley's query counter, Postgres' commit counter).
import postgres from 'postgres'
import type { Row } from './lib.ts'
import { rssKiB, sleep } from './lib.ts'

/** Reads a child's stdout one line at a time. */
export function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  return async (): Promise<string> => {
    for (;;) {
      const nl = buffered.indexOf('\n')
      if (nl >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        return line
      }
      const { value, done } = await reader.read()
      if (done) throw new Error('bench/server.ts exited early')
      buffered += decoder.decode(value, { stream: true })
    }
  }
}

export async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN)
}

export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** One reading of the database work counters. */
export type WorkSample = { at: number; q: number; c: number }

export type ChildServer = Awaited<ReturnType<typeof startChildServer>>

export async function startChildServer(databaseUrl: string) {
  const child = Bun.spawn(['bun', `${import.meta.dir}/server.ts`], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const readLine = lineReader(child.stdout)
  const pg = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  const stop = async () => {
    await pg.end({ timeout: 5 })
    child.stdin.write('stop\n')
    await child.stdin.flush()
    await Promise.race([child.exited, sleep(15_000)])
    if (child.exitCode === null) child.kill()
  }
  let started: { port: number; pid: number; key: string }
  try {
    started = JSON.parse(await readLine())
  } catch (err) {
    await stop()
    throw err
  }
  const { port, pid, key } = started
  const base = `http://127.0.0.1:${port}`
  const commits = async () =>
    Number(
      (await pg`select xact_commit from pg_stat_database where datname = current_database()`)[0]!.xact_commit,
    )
  return {
    port,
    pid,
    key,
    base,
    rssKiB: () => rssKiB(pid),
    gc: async () => {
      child.stdin.write('gc\n')
      await child.stdin.flush()
      if ((await readLine()) !== 'gc done') throw new Error('server did not acknowledge gc')
    },
    listeners: () => metric(base, 'parley_event_listeners'),
    sample: async (): Promise<WorkSample> => ({
      at: Date.now(),
      q: await metric(base, 'parley_db_queries_total'),
      c: await commits(),
    }),
    stop,
  }
}

/**
 * Database work while requests are parked, over two 10 s windows: the first may still see the
 * API-key last_used_at batch (written 10 s after use) and Postgres' delayed stats flush; the second
 * is the steady state, with its targets.
 */
export async function idleWork(server: ChildServer, parkedAt: number, what: string): Promise<Row[]> {
  const s0 = await server.sample()
  await sleep(10_000)
  const s1 = await server.sample()
  await sleep(10_000)
  const s2 = await server.sample()
  const rate = (a: WorkSample, b: WorkSample) => ({
    queries: (b.q - a.q) / ((b.at - a.at) / 1000),
    // Each sample commits twice (its own `select`, and the one statement a /metrics scrape runs):
    // subtract those of the window's first sample.
    commits: (b.c - a.c - 2) / ((b.at - a.at) / 1000),
  })
  const first = rate(s0, s1)
  const second = rate(s1, s2)
  const qps = (v: number) => `${v.toFixed(2)} queries/s`
  const span = (a: WorkSample, b: WorkSample) =>
    `${((a.at - parkedAt) / 1000).toFixed(0)}-${((b.at - parkedAt) / 1000).toFixed(0)} s after ${what}`
  return [
    { what: `Parley DB queries, ${span(s0, s1)}`, value: qps(first.queries) },
    {
      what: `Parley DB queries, ${span(s1, s2)}`,
      value: qps(second.queries),
      target: '0 queries/s',
      ok: second.queries === 0,
    },
    { what: `Postgres commits, ${span(s0, s1)}`, value: `${first.commits.toFixed(2)} /s` },
    {
      what: `Postgres commits, ${span(s1, s2)}`,
      value: `${second.commits.toFixed(2)} /s`,
      target: '0 /s',
      ok: second.commits <= 0,
    },
  ]
}
