// Answer latency: how long an agent blocked in a long-poll waits after a human answers. Each round
// the agent asks, parks on GET /messages/pending?wait=30, and once it is surely parked the answer
// is posted; we time from just before the answer POST to the long-poll's response. This is the
// push path (bus wake-up, no polling) that Omnara serves in 0.5-5 s.
import type { Ceilings } from './ceilings.ts'
import { agentClient, ms, percentile, type Running, type Section, sleep } from './lib.ts'

export const WARMUP = 20
const ROUNDS = 300
export const PARK_MS = 20

type Client = ReturnType<typeof agentClient>

/**
 * One round: `agent` asks on `instanceId` and parks its long-poll, `answerer` (the same server, or
 * another machine) posts the answer. The time in ms from the answer POST to the long-poll's
 * response, or what went wrong.
 */
export async function answerRound(
  agent: Client,
  answerer: Client,
  instanceId: string,
  round: number,
): Promise<{ ms: number } | { failure: string }> {
  const questionId = await agent.ask(instanceId, `Question ${round}? [YES/NO]`)
  const waiting = agent.get(
    `/api/v1/messages/pending?agent_instance_id=${instanceId}&last_read_message_id=${questionId}&wait=30`,
  )
  await sleep(PARK_MS)
  const answer = `answer ${round}`
  const start = performance.now()
  const [pending] = await Promise.all([
    waiting.then((body) => ({ body, at: performance.now() })),
    answerer.post('/api/v1/messages/user', {
      agent_instance_id: instanceId,
      content: answer,
      mark_as_read: false,
    }),
  ])
  if (pending.body.status !== 'ok' || pending.body.messages?.[0]?.content !== answer)
    return {
      failure: `round ${round}: unexpected long-poll answer ${JSON.stringify(pending.body).slice(0, 200)}`,
    }
  return { ms: pending.at - start }
}

/** The rounds both answer benchmarks run (see answerRound). Sorted samples in ms, after warm-up. */
export async function timeAnswers(agent: Client, answerer: Client) {
  const instanceId = crypto.randomUUID()
  const samples: number[] = []
  const failures: string[] = []
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const r = await answerRound(agent, answerer, instanceId, round)
    if ('failure' in r) failures.push(r.failure)
    else if (round >= WARMUP) samples.push(r.ms)
  }
  samples.sort((a, b) => a - b)
  return { samples, failures }
}

export async function answerLatency(run: Running, floor?: Ceilings): Promise<Section> {
  const client = agentClient(run.base, run.key)
  const { samples, failures } = await timeAnswers(client, client)
  const p50 = percentile(samples, 50)
  const p99 = percentile(samples, 99)
  return {
    title: 'Answer latency (answer POST -> parked long-poll returns)',
    notes: [
      `${samples.length} rounds after ${WARMUP} warm-up rounds, one instance, long-poll parked ${PARK_MS} ms ` +
        'before the answer; client and server share one process (in-process Parley, real HTTP on 127.0.0.1).',
    ],
    rows: [
      { what: 'p50', value: ms(p50) },
      { what: 'p99', value: ms(p99), target: '< 10 ms', ok: p99 < 10 },
      { what: 'max', value: ms(samples.at(-1) ?? Number.NaN) },
      ...(floor
        ? [
            {
              what: 'floor: one HTTP round trip + one durable commit (p50, ceilings above)',
              value: ms(floor.httpRoundTripP50 + floor.commitP50),
            },
          ]
        : []),
    ],
    failures,
  }
}
