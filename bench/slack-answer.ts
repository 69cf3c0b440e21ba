// Slack answer path: how long Slack waits for the ack of a button press (it gives up after 3 s),
// and how long from the press until an agent parked in a long-poll has the answer. Real HTTP on
// 127.0.0.1, presses signed exactly as Slack signs them, the Web API served by the local fake.
import { createApiKey } from '../src/auth/api-keys.ts'
import { loadConfig } from '../src/config.ts'
import { createUser } from '../src/core/users.ts'
import { startParley } from '../src/parley.ts'
import { FakeSlack, FORM, interactionBody, slackRequest } from '../test/fakes/slack.ts'
import { agentClient, ms, percentile, type Section, sleep } from './lib.ts'

const WARMUP = 10
const ROUNDS = 200
const PARK_MS = 20
const SECRET = 'bench-signing-secret'

export async function slackAnswer(databaseUrl: string): Promise<Section> {
  const fake = new FakeSlack()
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    PORT: '0',
    SLACK_BOT_TOKEN: fake.token,
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: fake.apiUrl,
  })
  const parley = await startParley(config, { quiet: true })
  const failures: string[] = []
  const acks: number[] = []
  const answers: number[] = []
  try {
    const db = parley.database
    const email = `slack-bench-${crypto.randomUUID().slice(0, 8)}@example.com`
    const user = await createUser(db.db, { email, password: 'benchmark password', displayName: 'bench' })
    const { key } = await createApiKey(db.db, { userId: user.id, name: 'bench' })
    await db.query(
      `insert into channel_links (user_id, channel, team_id, external_user_id) values ($1, 'slack', 'T1', 'UBENCH')`,
      [user.id],
    )
    const base = `http://127.0.0.1:${parley.port}`
    const client = agentClient(base, key)
    const instanceId = crypto.randomUUID()
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const questionId = await client.ask(instanceId, `Question ${round}? [YES/NO]`)
      const waiting = client.get(
        `/api/v1/messages/pending?agent_instance_id=${instanceId}&last_read_message_id=${questionId}&wait=30`,
      )
      await sleep(PARK_MS)
      const press = slackRequest(
        SECRET,
        interactionBody({
          type: 'block_actions',
          user: { id: 'UBENCH', team_id: 'T1' },
          team: { id: 'T1' },
          response_url: fake.responseUrl(),
          actions: [{ type: 'button', action_id: 'parley.option.0', value: `${questionId}:0` }],
        }),
        FORM,
      )
      const body = await press.text()
      const start = performance.now()
      const [acked, pending] = await Promise.all([
        fetch(`${base}/slack/events`, { method: 'POST', headers: press.headers, body }).then(async (r) => {
          await r.arrayBuffer()
          return { status: r.status, at: performance.now() }
        }),
        waiting.then((b) => ({ body: b, at: performance.now() })),
      ])
      if (acked.status !== 200 || pending.body.messages?.[0]?.content !== 'Yes') {
        failures.push(
          `round ${round}: HTTP ${acked.status}, long-poll ${JSON.stringify(pending.body).slice(0, 160)}`,
        )
        continue
      }
      if (round < WARMUP) continue
      acks.push(acked.at - start)
      answers.push(pending.at - start)
    }
  } finally {
    await parley.stop()
    fake.stop()
  }
  acks.sort((a, b) => a - b)
  answers.sort((a, b) => a - b)
  return {
    title: 'Slack answer path (signed button press -> ack, and -> parked agent has the answer)',
    notes: [
      `${answers.length} rounds after ${WARMUP} warm-up rounds, one instance and one linked Slack user; the ` +
        'outbox sends the questions and lock edits to the local fake Web API meanwhile.',
    ],
    rows: [
      { what: 'ack p50', value: ms(percentile(acks, 50)) },
      {
        what: 'ack p99',
        value: ms(percentile(acks, 99)),
        target: '< 3000 ms (Slack)',
        ok: percentile(acks, 99) < 3000,
      },
      { what: 'press -> agent p50', value: ms(percentile(answers, 50)) },
      {
        what: 'press -> agent p99',
        value: ms(percentile(answers, 99)),
        target: '< 500 ms (Omnara: 0.5-5 s)',
        ok: percentile(answers, 99) < 500,
      },
    ],
    failures,
  }
}
