// Physical ceilings, measured in the same run as the figures they bound: what this machine does
// with nothing of Parley in the way. Every throughput in RESULTS.md is read against these.
// - bare HTTP: Bun.serve answering a small JSON POST with a small JSON body, driven by the same
//   keep-alive fetch client and the same 32 concurrent loops as the ingest benchmark, in one
//   process (as the in-process Parley benchmarks are);
// - one HTTP round trip, one Postgres round trip (`select 1`, prepared) and one durable commit (a
//   one-row insert, autocommit: the WAL flush every write waits for), back to back: the floor under
//   every latency (an answer is at least one HTTP round trip and one durable commit).
import postgres from 'postgres'
import { ms, percentile, rate, type Section } from './lib.ts'

const LOOPS = 32
const SECONDS = 5
const SAMPLES = 2000

export type Ceilings = {
  httpPerSecond: number
  httpRoundTripP50: number
  pgRoundTripP50: number
  commitP50: number
}

async function timedLoop(n: number, once: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 200; i++) await once()
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await once()
    samples.push(performance.now() - t0)
  }
  return samples.sort((a, b) => a - b)
}

export async function ceilings(databaseUrl: string): Promise<{ section: Section; ceilings: Ceilings }> {
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (req) => Response.json({ ok: true, got: ((await req.json()) as { n?: number }).n ?? 0 }),
  })
  const url = `http://127.0.0.1:${server.port}/`
  const post = async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1, content: 'Ran the tests: 412 passed, 0 failed.' }),
    })
    await res.text()
  }
  let httpPerSecond: number
  let http: number[]
  try {
    await rate(LOOPS, 1, post)
    httpPerSecond = await rate(LOOPS, SECONDS, post)
    http = await timedLoop(SAMPLES, post)
  } finally {
    server.stop(true)
  }
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  let pg: number[]
  let commit: number[]
  try {
    pg = await timedLoop(SAMPLES, () => sql`select 1`)
    await sql`create table ceiling_commits (id bigserial primary key, v text not null)`
    commit = await timedLoop(SAMPLES, () => sql`insert into ceiling_commits (v) values (${'a durable row'})`)
    await sql`drop table ceiling_commits`
  } finally {
    await sql.end({ timeout: 5 })
  }
  return {
    ceilings: {
      httpPerSecond,
      httpRoundTripP50: percentile(http, 50),
      pgRoundTripP50: percentile(pg, 50),
      commitP50: percentile(commit, 50),
    },
    section: {
      title: 'Ceilings (this machine with nothing of Parley in the way, same run)',
      notes: [
        `Bare HTTP: Bun.serve answering a JSON POST, ${LOOPS} keep-alive fetch loops for ${SECONDS} s in ` +
          'the same process (as the in-process benchmarks below). Round trips: one request at a time, ' +
          `${SAMPLES} samples after 200 warm-up; Postgres \`select 1\` prepared and a one-row insert (autocommit) on one connection.`,
      ],
      rows: [
        { what: 'bare HTTP throughput', value: `${httpPerSecond.toFixed(0)} req/s` },
        {
          what: 'HTTP round trip p50 / p99',
          value: `${ms(percentile(http, 50))} / ${ms(percentile(http, 99))}`,
        },
        {
          what: 'Postgres round trip p50 / p99',
          value: `${ms(percentile(pg, 50))} / ${ms(percentile(pg, 99))}`,
        },
        {
          what: 'durable commit (one-row insert) p50 / p99',
          value: `${ms(percentile(commit, 50))} / ${ms(percentile(commit, 99))}`,
        },
      ],
      failures: [],
    },
  }
}
