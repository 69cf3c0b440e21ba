// Dashboard benchmarks. (1) Inbox render: one person with 10,000 instances and 1,000,000
// messages (generated set-based, bench/dashboard-seed.ts); GET / with their session, timed on
// the client over keep-alive HTTP on 127.0.0.1, so the figure bounds the server time from above.
// (2) SSE fan-out: 500 open inbox streams of one person; an agent posts one message and we time
// until every stream has the re-rendered row. One Postgres LISTEN connection serves them all.
import postgres from 'postgres'
import { createApiKey } from '../src/auth/api-keys.ts'
import { createWebSession, SESSION_COOKIE } from '../src/auth/web-sessions.ts'
import { createUser } from '../src/core/users.ts'
import { SEARCHES, searchFigures } from './dashboard-search.ts'
import { seedDashboard } from './dashboard-seed.ts'
import { agentClient, ms, percentile, type Running, type Section, sleep } from './lib.ts'

const INSTANCES = 10_000
const MESSAGES = 1_000_000
const RENDERS = 200
const STREAMS = 500
const ROUNDS = 30
const PASSWORD = 'benchmark password'

export async function webUser(run: Running) {
  const email = `dash-${crypto.randomUUID().slice(0, 8)}@example.com`
  const user = await createUser(run.parley.database.db, { email, password: PASSWORD })
  // Logged in as the log-in form would (its CSRF dance is the web tests' business, not the bench's).
  const { token } = await createWebSession(run.parley.database.db, user.id)
  return { id: user.id, cookie: `${SESSION_COOKIE}=${token}` }
}

export async function dashboardInbox(run: Running, databaseUrl: string): Promise<Section> {
  const failures: string[] = []
  const user = await webUser(run)
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  const seedStart = performance.now()
  try {
    await seedDashboard(sql, user.id, INSTANCES, MESSAGES)
  } finally {
    await sql.end()
  }
  const seedSeconds = (performance.now() - seedStart) / 1000
  const get = async (path: string) => {
    const start = performance.now()
    const res = await fetch(run.base + path, { headers: { cookie: user.cookie } })
    const text = await res.text()
    return { status: res.status, text, took: performance.now() - start }
  }
  for (let i = 0; i < 10; i++) await get('/') // warm-up
  const samples: number[] = []
  for (let i = 0; i < RENDERS; i++) {
    const r = await get('/')
    if (r.status !== 200 || (r.text.match(/<li id="row-/g)?.length ?? 0) !== 50) {
      failures.push(`render ${i}: HTTP ${r.status}, ${r.text.match(/<li id="row-/g)?.length ?? 0} rows`)
      break
    }
    samples.push(r.took)
  }
  const filtered: number[] = []
  for (let i = 0; i < 50; i++) filtered.push((await get('/?status=AWAITING_INPUT&type=type-3')).took)
  const search = await searchFigures(get)
  failures.push(...search.failures)
  samples.sort((a, b) => a - b)
  filtered.sort((a, b) => a - b)
  const p95 = percentile(samples, 95)
  return {
    title: 'Dashboard inbox render (10,000 instances, 1,000,000 messages, one user)',
    notes: [
      `Data generated with generate_series in ${seedSeconds.toFixed(0)} s. ${samples.length} sequential GET / ` +
        'with a session cookie after 10 warm-ups; each renders 50 rows with preview, presence and unread count. ' +
        'Time is measured at the client (same machine), an upper bound of the server time. ' +
        `Searches: ${SEARCHES.map((q) => `"${q}"`).join(', ')}, ranked (bench/dashboard-search.ts).`,
    ],
    rows: [
      { what: 'p50', value: ms(percentile(samples, 50)) },
      { what: 'p95', value: ms(p95), target: '< 50 ms', ok: p95 < 50 },
      { what: 'p95, filtered by status and agent type', value: ms(percentile(filtered, 95)) },
      ...search.rows,
    ],
    failures,
  }
}

/** An SSE stream on a raw socket (fetch pools connections; 500 streams must all be open at once). */
async function openStream(port: number, path: string, cookie: string, onData: (text: string) => void) {
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: { data: (_s, data) => onData(data.toString()), error: () => {}, close: () => {} },
  })
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\nAccept: text/event-stream\r\n\r\n`,
  )
  return socket
}

export async function dashboardFanout(run: Running, databaseUrl: string): Promise<Section> {
  const failures: string[] = []
  const user = await webUser(run)
  const { key } = await createApiKey(run.parley.database.db, { userId: user.id, name: 'fanout' })
  const agent = agentClient(run.base, key)
  const instanceId = crypto.randomUUID()
  await agent.post('/api/v1/messages/agent', {
    agent_instance_id: instanceId,
    agent_type: 'bench',
    content: 'start',
  })

  let marker = ''
  let pending = 0
  let allReceived: (() => void) | null = null
  const got = new Array<boolean>(STREAMS).fill(false)
  const connected = new Array<boolean>(STREAMS).fill(false)
  const sockets = []
  for (let i = 0; i < STREAMS; i++) {
    sockets.push(
      await openStream(run.parley.port, '/events/inbox', user.cookie, (text) => {
        if (text.includes(': connected')) connected[i] = true
        if (marker && !got[i] && text.includes(marker)) {
          got[i] = true
          if (--pending === 0) allReceived?.()
        }
      }),
    )
  }
  const deadline = Date.now() + 20_000
  while (connected.some((c) => !c) && Date.now() < deadline) await sleep(20)
  if (connected.some((c) => !c))
    failures.push(`only ${connected.filter(Boolean).length} of ${STREAMS} streams opened`)

  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  const [listeners] = await admin`select count(*)::int as n from pg_stat_activity
    where datname = current_database() and query ilike 'listen%'`
  await admin.end()

  const samples: number[] = []
  const afterPost: number[] = []
  for (let round = 0; round < ROUNDS && failures.length === 0; round++) {
    marker = `fan-out marker ${round} ${crypto.randomUUID().slice(0, 8)}`
    got.fill(false)
    pending = STREAMS
    const done = new Promise<void>((resolve) => {
      allReceived = resolve
    })
    const start = performance.now()
    await agent.post('/api/v1/messages/agent', { agent_instance_id: instanceId, content: marker })
    const posted = performance.now()
    const ok = await Promise.race([done.then(() => true), sleep(10_000).then(() => false)])
    if (!ok) {
      failures.push(
        `round ${round}: ${got.filter(Boolean).length} of ${STREAMS} streams got the update in 10 s`,
      )
      break
    }
    samples.push(performance.now() - start)
    afterPost.push(performance.now() - posted)
    await sleep(50)
  }
  for (const s of sockets) s.end()
  samples.sort((a, b) => a - b)
  afterPost.sort((a, b) => a - b)
  const p99 = percentile(samples, 99)
  const oneListener = listeners?.n === 1
  if (!oneListener) failures.push(`expected one LISTEN connection, found ${listeners?.n}`)
  return {
    title: `Dashboard SSE fan-out (${STREAMS} open inbox streams, one message posted)`,
    notes: [
      `${samples.length} rounds: an agent posts a message over REST and we time until all ${STREAMS} streams ` +
        'have the re-rendered inbox row (the time includes the POST itself). Streams are raw sockets in the ' +
        `same process as the server. Postgres LISTEN connections for ${STREAMS} streams: ${listeners?.n}.`,
    ],
    rows: [
      { what: 'p50 until all received', value: ms(percentile(samples, 50)) },
      { what: 'p99 until all received', value: ms(p99), target: '< 100 ms', ok: p99 < 100 },
      { what: 'p99 from the POST answering until all received', value: ms(percentile(afterPost, 99)) },
      { what: 'database listeners', value: String(listeners?.n), target: '1', ok: oneListener },
    ],
    failures,
  }
}
