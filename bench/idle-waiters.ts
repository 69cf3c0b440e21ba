// Idle long-poll waiters: what 5,000 agents parked on GET /messages/pending?wait=60 cost the server
// while nobody answers. Parley runs in a child process (bench/server.ts) so its RSS is its own;
// we read VmRSS before and after parking, count database queries while parked (/metrics and
// Postgres' commit counter), hold them past the server's 30 s idle timeout, then answer every
// instance and check that every waiter comes back; then park a second burst on the warmed process.
// Omnara managed ~40 waiters, one connection each.
import { readFileSync } from 'node:fs'
import { idleWork, startChildServer, until } from './child-server.ts'
import { agentClient, type Section, sleep } from './lib.ts'
import { parkRaw, type Waiter } from './raw-http.ts'

const WAITERS = 5000
const INSTANCES = 50
const WARMUP_PER_INSTANCE = 5
/** The server's Bun.serve idleTimeout (src/parley.ts) is 30 s: parked waiters must outlive it. */
const HOLD_MS = 32_000

function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))
  return Number(line?.split(/\s{2,}/)[1] ?? Number.NaN)
}

export async function idleWaiters(databaseUrl: string): Promise<Section> {
  const limit = openFilesLimit()
  if (limit < WAITERS + 200) throw new Error(`open files limit ${limit} is below ${WAITERS + 200}`)
  const server = await startChildServer(databaseUrl)
  const { port, key, gc, listeners } = server
  const waiters: Waiter[] = []
  try {
    const client = agentClient(server.base, key)
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
    const rssBefore = server.rssKiB()

    // Park every waiter and wait until the server has subscribed each one to the bus.
    const parkStart = performance.now()
    const parked = await park(WAITERS / INSTANCES)
    await until(async () => (await listeners()) >= idleListeners + WAITERS, 60_000, 'parked waiters')
    const parkSeconds = (performance.now() - parkStart) / 1000
    const parkedAt = Date.now()
    await sleep(2000)
    await gc()
    const rssAfter = server.rssKiB()
    const perWaiter = ((rssAfter - rssBefore) * 1024) / WAITERS

    const work = await idleWork(server, parkedAt, 'parking')
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
    const rssReleased = server.rssKiB()
    await askAll()
    const again = await park(WAITERS / INSTANCES)
    await until(async () => (await listeners()) >= idleListeners + WAITERS, 60_000, 'second burst of waiters')
    await sleep(2000)
    await gc()
    const rssAgain = server.rssKiB()
    const perWaiterAgain = ((rssAgain - rssReleased) * 1024) / WAITERS
    await release()
    if (!(await Promise.race([Promise.all(again.map((w) => w.done)), sleep(30_000).then(() => null)]))) {
      failures.push('not every waiter of the second burst returned within 30 s of the answers')
    }

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
        ...work,
      ],
      failures,
    }
  } finally {
    for (const w of waiters) w.close()
    await server.stop()
  }
}
