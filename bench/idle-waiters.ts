// Idle long-poll waiters: what 5,000 agents parked on GET /messages/pending?wait=60 cost the server
// while nobody answers. Parley runs in a child process (bench/server.ts) so its RSS is its own;
// we read VmRSS before and after parking, count database queries while parked (/metrics and
// Postgres' commit counter), hold them past the server's 30 s idle timeout, then answer every
// instance and check that every waiter comes back; then park a second burst on the warmed process.
// Omnara managed ~40 waiters, one connection each.
import { readFileSync } from 'node:fs'
import postgres from 'postgres'
import { agentClient, type Section, sleep } from './lib.ts'
import { parkRaw, type Waiter } from './raw-http.ts'

const WAITERS = 5000
const INSTANCES = 50
const WARMUP_PER_INSTANCE = 5
/** The server's Bun.serve idleTimeout (src/parley.ts) is 30 s: parked waiters must outlive it. */
const HOLD_MS = 32_000

const rssKiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN)

function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))
  return Number(line?.split(/\s{2,}/)[1] ?? Number.NaN)
}

/** Reads a child's stdout one line at a time. */
function lineReader(stream: ReadableStream<Uint8Array>) {
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

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN)
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

export async function idleWaiters(databaseUrl: string): Promise<Section> {
  const limit = openFilesLimit()
  if (limit < WAITERS + 200) throw new Error(`open files limit ${limit} is below ${WAITERS + 200}`)
  const child = Bun.spawn(['bun', `${import.meta.dir}/server.ts`], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const readLine = lineReader(child.stdout)
  const pg = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  const waiters: Waiter[] = []
  try {
    const { port, pid, key } = JSON.parse(await readLine()) as { port: number; pid: number; key: string }
    const base = `http://127.0.0.1:${port}`
    const client = agentClient(base, key)
    const gc = async () => {
      child.stdin.write('gc\n')
      await child.stdin.flush()
      if ((await readLine()) !== 'gc done') throw new Error('server did not acknowledge gc')
    }
    const listeners = () => metric(base, 'parley_event_listeners')
    const queries = () => metric(base, 'parley_db_queries_total')
    const commits = async () =>
      Number(
        (await pg`select xact_commit from pg_stat_database where datname = current_database()`)[0]!
          .xact_commit,
      )
    const instances = Array.from({ length: INSTANCES }, () => crypto.randomUUID())
    const cursors = new Map<string, string>()
    const askAll = async () => {
      for (const id of instances) cursors.set(id, await client.ask(id, 'Deploy to production? [YES/NO]'))
    }
    const park = async (perInstance: number) => {
      const batch: Waiter[] = []
      for (let i = 0; i < perInstance; i++) {
        const connecting = instances.map((id) =>
          parkRaw(
            port,
            key,
            `/api/v1/messages/pending?agent_instance_id=${id}&last_read_message_id=${cursors.get(id)}&wait=60`,
          ),
        )
        batch.push(...(await Promise.all(connecting)))
      }
      waiters.push(...batch)
      return batch
    }
    const release = () =>
      Promise.all(
        instances.map((id) =>
          client.post('/api/v1/messages/user', {
            agent_instance_id: id,
            content: 'YES',
            mark_as_read: false,
          }),
        ),
      )

    // Warm-up: one small park-and-release so first-use allocations are not counted per waiter.
    await askAll()
    const idleListeners = await listeners()
    const warm = await park(WARMUP_PER_INSTANCE)
    await until(async () => (await listeners()) >= idleListeners + warm.length, 30_000, 'warm-up waiters')
    await release()
    await Promise.all(warm.map((w) => w.done))
    for (const w of warm) w.close()
    await askAll()
    await sleep(1000)
    await gc()
    const rssBefore = rssKiB(pid)

    // Park every waiter and wait until the server has subscribed each one to the bus.
    const parkStart = performance.now()
    const parked = await park(WAITERS / INSTANCES)
    await until(async () => (await listeners()) >= idleListeners + WAITERS, 60_000, 'parked waiters')
    const parkSeconds = (performance.now() - parkStart) / 1000
    const parkedAt = Date.now()
    await sleep(2000)
    await gc()
    const rssAfter = rssKiB(pid)
    const perWaiter = ((rssAfter - rssBefore) * 1024) / WAITERS

    // Two 10 s windows: the first may see the API-key last_used_at batch (written 10 s after
    // use) and Postgres' delayed stats flush; the second starts > 10 s after the last request.
    const sample = async () => ({ at: Date.now(), q: await queries(), c: await commits() })
    const s0 = await sample()
    await sleep(10_000)
    const s1 = await sample()
    await sleep(10_000)
    const s2 = await sample()
    const rate = (a: typeof s0, b: typeof s0) => ({
      queries: (b.q - a.q) / ((b.at - a.at) / 1000),
      // Each sample's own `select` commits once; subtract the one from the window's first sample.
      commits: (b.c - a.c - 1) / ((b.at - a.at) / 1000),
    })
    const first = rate(s0, s1)
    const second = rate(s1, s2)
    await sleep(Math.max(0, parkedAt + HOLD_MS - Date.now()))
    const early = parked.filter((w) => w.settled()).length
    const heldSeconds = (Date.now() - parkedAt) / 1000

    // Answer every instance: all waiters must return (one "ok" per instance gets the message and
    // moves the cursor; the other 99 on the same cursor get Omnara's "stale").
    const releaseStart = performance.now()
    await release()
    const replies = await Promise.race([
      Promise.all(parked.map((w) => w.done)),
      sleep(30_000).then(() => null),
    ])
    const releaseSeconds = (performance.now() - releaseStart) / 1000
    const tally = { ok: 0, stale: 0, other: 0 }
    for (const r of replies ?? []) {
      const status = r.status === 200 ? (JSON.parse(r.body) as { status: string }).status : null
      if (status === 'ok') tally.ok++
      else if (status === 'stale') tally.stale++
      else tally.other++
    }
    const failures: string[] = []
    if (early > 0) failures.push(`${early} waiters returned before they were answered`)
    if (!replies) failures.push('not every waiter returned within 30 s of the answers')
    if (tally.other > 0 || tally.ok !== INSTANCES) {
      failures.push(`release: ${tally.ok} ok, ${tally.stale} stale, ${tally.other} unexpected replies`)
    }
    // A second burst on the warmed process. The allocator keeps the pages the first burst used
    // (RSS stays up after every waiter has gone), so the first figure is mostly a one-time high
    // water mark; what another 5,000 waiters add on top is what a long-running server pays.
    for (const w of parked) w.close()
    await sleep(1000)
    await gc()
    const rssReleased = rssKiB(pid)
    await askAll()
    const again = await park(WAITERS / INSTANCES)
    await until(async () => (await listeners()) >= idleListeners + WAITERS, 60_000, 'second burst of waiters')
    await sleep(2000)
    await gc()
    const rssAgain = rssKiB(pid)
    const perWaiterAgain = ((rssAgain - rssReleased) * 1024) / WAITERS
    await release()
    if (!(await Promise.race([Promise.all(again.map((w) => w.done)), sleep(30_000).then(() => null)]))) {
      failures.push('not every waiter of the second burst returned within 30 s of the answers')
    }

    const qps = (v: number) => `${v.toFixed(2)} queries/s`
    const span = (a: typeof s0, b: typeof s0) =>
      `${((a.at - parkedAt) / 1000).toFixed(0)}-${((b.at - parkedAt) / 1000).toFixed(0)} s after parking`
    return {
      title: `Idle long-poll waiters (${WAITERS} x wait=60 over ${INSTANCES} instances, server in a child process)`,
      notes: [
        `Client: one raw keep-alive TCP connection per waiter. Open files limit ${limit}. ` +
          `Parked in ${parkSeconds.toFixed(1)} s; RSS read from /proc/<pid>/status after a forced GC ` +
          `(${(rssBefore / 1024).toFixed(1)} MiB before, ${(rssAfter / 1024).toFixed(1)} MiB parked).`,
        `Held ${heldSeconds.toFixed(1)} s (past the 30 s idle timeout): ${early} returned early. ` +
          `Released in ${releaseSeconds.toFixed(2)} s: ${tally.ok} ok, ${tally.stale} stale, ${tally.other} other.`,
        `After they were answered and closed, RSS stayed at ${(rssReleased / 1024).toFixed(1)} MiB (the allocator ` +
          `keeps its pages); a second burst of ${WAITERS} on that warmed process took it to ` +
          `${(rssAgain / 1024).toFixed(1)} MiB.`,
        "Postgres commits are pg_stat_database.xact_commit deltas minus the sampler's own; they include " +
          'any autovacuum in the database.',
      ],
      rows: [
        {
          what: 'server RSS per waiter, first burst on a fresh process',
          value: `${(perWaiter / 1024).toFixed(2)} KiB`,
        },
        {
          what: 'server RSS per waiter, second burst (warmed process)',
          value: `${(perWaiterAgain / 1024).toFixed(2)} KiB`,
          target: '<= 8 KiB',
          ok: perWaiterAgain <= 8 * 1024,
        },
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
      ],
      failures,
    }
  } finally {
    for (const w of waiters) w.close()
    await pg.end({ timeout: 5 })
    child.stdin.write('stop\n')
    await child.stdin.flush()
    await Promise.race([child.exited, sleep(15_000)])
    if (child.exitCode === null) child.kill()
  }
}
