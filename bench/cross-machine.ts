// Cross-machine wake-up: the agent's long-poll parks on machine A, the answer is posted on
// machine B, and A learns of it only through Postgres LISTEN/NOTIFY. Two Parley processes
// (bench/server.ts) on one database; each round times from just before the answer POST on B to
// the long-poll's response on A.
import { PARK_MS, timeAnswers, WARMUP } from './answer-latency.ts'
import { type ChildServer, metric, startChildServer } from './child-server.ts'
import { agentClient, ms, percentile, type Section } from './lib.ts'

export async function crossMachineWakeup(databaseUrl: string): Promise<Section> {
  const servers: ChildServer[] = []
  try {
    servers.push(await startChildServer(databaseUrl))
    servers.push(await startChildServer(databaseUrl))
    const [a, b] = servers as [ChildServer, ChildServer]
    // One agent (A's key): keys live in the shared database, so B accepts it too.
    const onA = agentClient(a.base, a.key)
    const onB = agentClient(b.base, a.key)
    const { samples, failures } = await timeAnswers(onA, onB)
    const p99 = percentile(samples, 99)
    // A's own view of the NOTIFY leg (parley_event_bus_delay_seconds): B publishes -> A receives.
    const busMs =
      ((await busDelaySum(a.base)) / (await metric(a.base, 'parley_event_bus_delay_seconds_count'))) * 1000
    return {
      title: 'Cross-machine wake-up (answer POST on B -> long-poll on A returns)',
      notes: [
        `${samples.length} rounds after ${WARMUP} warm-up rounds; two Parley processes on one Postgres, ` +
          `the long-poll parked ${PARK_MS} ms on A before the answer is posted on B; the client is a third process.`,
      ],
      rows: [
        { what: 'p50', value: ms(percentile(samples, 50)) },
        { what: 'p99', value: ms(p99), target: '< 20 ms', ok: p99 < 20 },
        { what: 'max', value: ms(samples.at(-1) ?? Number.NaN) },
        { what: 'event bus delay on A (NOTIFY from B -> A), mean', value: ms(busMs) },
      ],
      failures,
    }
  } finally {
    for (const s of servers) await s.stop()
  }
}

async function busDelaySum(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  return Number(/^parley_event_bus_delay_seconds_sum (\S+)/m.exec(text)?.[1] ?? Number.NaN)
}
