// Web push delivery: one person with 100 subscribed devices; an agent asks over REST, and the
// outbox encrypts (RFC 8291) and sends one push per device to a local push service, which checks
// VAPID and decrypts each payload. Measures question asked -> push request received, per device
// and for the last device of each question, and checks every device got every question once.
import { createApiKey } from '../src/auth/api-keys.ts'
import { loadConfig } from '../src/config.ts'
import { savePushSubscription } from '../src/core/push-subscriptions.ts'
import { createUser } from '../src/core/users.ts'
import { startParley } from '../src/parley.ts'
import { lineReader } from './child-server.ts'
import { agentClient, createBenchDatabase, ms, percentile, type Section } from './lib.ts'

type Subscription = { endpoint: string; keys: { p256dh: string; auth: string } }
type Hit = { device: string; at: number }

/** `DEVICES=10 bun bench/push-delivery.ts` runs this section alone with another count. */
const DEVICES = Number(process.env.DEVICES ?? 100)
const QUESTIONS = 40
const TARGET_P99_MS = 100

export async function pushDelivery(databaseUrl: string): Promise<Section> {
  const child = Bun.spawn(['bun', `${import.meta.dir}/push-service.ts`, String(DEVICES)], {
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const { control, devices } = JSON.parse(await lineReader(child.stdout)()) as {
    control: string
    devices: Subscription[]
  }
  const received = async (tag: string): Promise<Hit[]> =>
    (await fetch(`${control}/received?tag=${tag}`)).json() as Promise<Hit[]>
  const config = loadConfig({ DATABASE_URL: databaseUrl, PORT: '0', PARLEY_WEBHOOK_ALLOW: '127.0.0.1' })
  // The devices subscribe, then Parley restarts (a deploy): it starts with them subscribed.
  const setup = await startParley(config, { quiet: true })
  const email = `push-bench-${crypto.randomUUID().slice(0, 8)}@example.com`
  let key: string
  try {
    const db = setup.database.db
    const user = await createUser(db, { email, password: 'benchmark password' })
    key = (await createApiKey(db, { userId: user.id, name: 'bench' })).key
    for (const [i, subscription] of devices.entries()) {
      await savePushSubscription(db, user.id, subscription, `bench device ${i}`)
    }
  } finally {
    await setup.stop()
  }
  const parley = await startParley(config, { quiet: true })
  const failures: string[] = []
  try {
    const agent = agentClient(`http://127.0.0.1:${parley.port}`, key)
    let total = 0
    /** Asks question `q`; the times from asking to each device's push, in order. */
    const ask = async (q: number): Promise<number[]> => {
      const start = performance.timeOrigin + performance.now()
      const id = await agent.ask(crypto.randomUUID(), `Bench question ${q}? [YES/NO]`)
      const deadline = Date.now() + 10_000
      let got = await received(`q-${id}`)
      while (got.length < DEVICES && Date.now() < deadline) {
        await Bun.sleep(20)
        got = await received(`q-${id}`)
      }
      if (got.length < DEVICES) failures.push(`question ${q}: ${got.length} of ${DEVICES} pushes arrived`)
      total += got.length
      if (new Set(got.map((r) => r.device)).size !== got.length)
        failures.push(`question ${q}: a device got it twice`)
      return got.map((r) => r.at - start).sort((a, b) => a - b)
    }
    // The first question after the start is reported apart: it pays what only a first one does
    // (the push service's connections opened, the statements prepared, code compiled).
    const first = await ask(0)
    const all: number[] = []
    const last: number[] = []
    const cpu = process.cpuUsage()
    for (let q = 1; q <= QUESTIONS; q++) {
      const lat = await ask(q)
      all.push(...lat)
      if (lat.length > 0) last.push(lat.at(-1)!)
    }
    const used = process.cpuUsage(cpu)
    const cpuPerQuestionMs = (used.user + used.system) / 1000 / QUESTIONS
    all.sort((a, b) => a - b)
    last.sort((a, b) => a - b)
    const rejected = (await (await fetch(`${control}/rejected`)).json()) as string[]
    if (rejected.length > 0) failures.push(`push service rejected: ${rejected.slice(0, 3).join('; ')}`)
    const p99 = percentile(all, 99)
    return {
      title: `Web push delivery (${DEVICES} devices)`,
      notes: [
        `${QUESTIONS} questions asked one after another over REST by one agent, for one person with ` +
          `${DEVICES} subscribed devices; each becomes ${DEVICES} encrypted pushes (aes128gcm, VAPID) ` +
          'sent by the outbox to a local plain-HTTP push service in another process, which verifies ' +
          'the VAPID JWT and decrypts every payload; times are when each request reached it.',
        'The devices subscribe before Parley starts (as after a deploy). The first question after ' +
          'the start is asked before the others and reported on its own rows: it opens the ' +
          `connections to the push service (${DEVICES} at once) and runs code for the first time.`,
      ],
      rows: [
        { what: 'first question after the start: asked -> first push', value: ms(first[0] ?? Number.NaN) },
        {
          what: `first question after the start: asked -> last of ${DEVICES} devices`,
          value: ms(first.at(-1) ?? Number.NaN),
        },
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
          what: `Parley's CPU per question (${DEVICES} pushes; agent and server share the process)`,
          value: ms(cpuPerQuestionMs),
        },
        {
          what: 'pushes received',
          value: String(total),
          target: String((QUESTIONS + 1) * DEVICES),
          ok: total === (QUESTIONS + 1) * DEVICES,
        },
      ],
      failures,
    }
  } finally {
    await parley.stop()
    child.kill()
    await child.exited
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
