// Web push delivery: one person with 100 subscribed devices; an agent asks over REST, and the
// outbox encrypts (RFC 8291) and sends one push per device to a local push service, which checks
// VAPID and decrypts each payload. Measures question asked -> push request received, per device
// and for the last device of each question, and checks every device got every question once.
import { createApiKey } from '../src/auth/api-keys.ts'
import { loadConfig } from '../src/config.ts'
import { savePushSubscription } from '../src/core/push-subscriptions.ts'
import { createUser } from '../src/core/users.ts'
import { startParley } from '../src/parley.ts'
import { FakePushService } from '../test/fakes/push.ts'
import { agentClient, createBenchDatabase, ms, percentile, type Section } from './lib.ts'

/** `DEVICES=10 bun bench/push-delivery.ts` runs this section alone with another count. */
const DEVICES = Number(process.env.DEVICES ?? 100)
const QUESTIONS = 40
const TARGET_P99_MS = 100

export async function pushDelivery(databaseUrl: string): Promise<Section> {
  const push = new FakePushService()
  const parley = await startParley(
    loadConfig({ DATABASE_URL: databaseUrl, PORT: '0', PARLEY_WEBHOOK_ALLOW: '127.0.0.1' }),
    { quiet: true },
  )
  const failures: string[] = []
  try {
    const db = parley.database.db
    const email = `push-bench-${crypto.randomUUID().slice(0, 8)}@example.com`
    const user = await createUser(db, { email, password: 'benchmark password' })
    const { key } = await createApiKey(db, { userId: user.id, name: 'bench' })
    for (let i = 0; i < DEVICES; i++) {
      await savePushSubscription(db, user.id, push.device().subscription, `bench device ${i}`)
    }
    const agent = agentClient(`http://127.0.0.1:${parley.port}`, key)
    const all: number[] = []
    const last: number[] = []
    for (let q = 0; q < QUESTIONS; q++) {
      const start = performance.now()
      const id = await agent.ask(crypto.randomUUID(), `Bench question ${q}? [YES/NO]`)
      const got = await push
        .waitFor(DEVICES, (r) => r.payload.tag === `q-${id}`, 10_000)
        .catch((err) => {
          failures.push((err as Error).message)
          return []
        })
      const lat = got.map((r) => r.at - start).sort((a, b) => a - b)
      all.push(...lat)
      if (lat.length > 0) last.push(lat.at(-1)!)
      if (new Set(got.map((r) => r.device)).size !== got.length)
        failures.push(`question ${q}: a device got it twice`)
    }
    all.sort((a, b) => a - b)
    last.sort((a, b) => a - b)
    const received = push.received.length
    if (push.rejected.length > 0)
      failures.push(`push service rejected: ${push.rejected.slice(0, 3).join('; ')}`)
    const p99 = percentile(all, 99)
    return {
      title: `Web push delivery (${DEVICES} devices)`,
      notes: [
        `${QUESTIONS} questions asked one after another over REST by one agent, for one person with ` +
          `${DEVICES} subscribed devices; each becomes ${DEVICES} encrypted pushes (aes128gcm, VAPID) ` +
          'sent by the outbox to a local plain-HTTP push service in the same process, which verifies ' +
          'the VAPID JWT and decrypts every payload (its own work is inside the figures).',
      ],
      rows: [
        { what: 'asked -> push received, p50', value: ms(percentile(all, 50)) },
        {
          what: 'asked -> push received, p99',
          value: ms(p99),
          target: `< ${TARGET_P99_MS} ms`,
          ok: p99 < TARGET_P99_MS,
        },
        { what: `asked -> last of ${DEVICES} devices, p50`, value: ms(percentile(last, 50)) },
        { what: `asked -> last of ${DEVICES} devices, p99`, value: ms(percentile(last, 99)) },
        {
          what: 'pushes received',
          value: String(received),
          target: String(QUESTIONS * DEVICES),
          ok: received === QUESTIONS * DEVICES,
        },
      ],
      failures,
    }
  } finally {
    await parley.stop()
    await push.stop()
  }
}

if (import.meta.main) {
  const db = await createBenchDatabase()
  try {
    const s = await pushDelivery(db.url)
    for (const r of s.rows) console.log(`${r.what}: ${r.value}${r.target ? `  target ${r.target}` : ''}`)
    for (const f of s.failures) console.log(`CHECK FAILED: ${f}`)
  } finally {
    await db.drop()
  }
}
