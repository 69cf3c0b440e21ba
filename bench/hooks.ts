// Agent hooks: (1) answer latency: a PermissionRequest hook is held open, a person answers, and we
// time from just before the answer POST to the hook's response (the bus wakes the held request;
// nothing polls). (2) 500 hook requests held at once in a server of their own (bench/server.ts):
// extra RSS per held request, and database work while they wait (Parley's query counter and
// Postgres' commit counter), then every one is answered and must come back with its decision.
import { nextEvent } from '../src/events/bus.ts'
import { idleWork, startChildServer, until } from './child-server.ts'
import { agentClient, dashboardUser, ms, percentile, type Running, type Section, sleep } from './lib.ts'
import { parkRaw, type Waiter } from './raw-http.ts'

const WARMUP = 20
const ROUNDS = 250
const HELD = 500
const WARM_HELD = 50

const permissionRequest = (sessionId: string) =>
  JSON.stringify({
    session_id: sessionId,
    transcript_path: '/tmp/bench.jsonl',
    cwd: '/home/bench/project',
    hook_event_name: 'PermissionRequest',
    tool_name: 'Bash',
    tool_input: { command: 'python3 -c "print(1)"', description: 'Print one' },
    permission_suggestions: [],
  })

/** Typed words (not a button) deny, with the words as the message: how the burst is released. */
const DENY_WORDS = 'Not now, the build is running'

const deniedWithWords = (body: string) => {
  try {
    const decision = JSON.parse(body).hookSpecificOutput?.decision
    return decision?.behavior === 'deny' && decision.message === DENY_WORDS
  } catch {
    return false
  }
}

const allowed = (body: string) => {
  try {
    return JSON.parse(body).hookSpecificOutput?.decision?.behavior === 'allow'
  } catch {
    return false
  }
}

/** Answer pressed -> held hook request returns, in-process Parley over real HTTP. */
export async function hookAnswerLatency(run: Running): Promise<Section> {
  // The hook's key and the person pressing Allow on the dashboard are one user.
  const person = await dashboardUser(run.base, run.parley.database.db)
  const sessionId = crypto.randomUUID()
  const samples: number[] = []
  const failures: string[] = []
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const question = nextEvent(
      run.parley.core.bus,
      { instanceId: sessionId },
      (e) => e.type === 'message.created' && e.question,
      10_000,
    ).promise
    const held = fetch(`${run.base}/hooks/claude-code`, {
      method: 'POST',
      headers: { authorization: `Bearer ${person.key}`, 'content-type': 'application/json' },
      body: permissionRequest(sessionId),
    }).then(async (r) => ({ body: await r.text(), at: performance.now() }))
    const asked = await question
    if (asked?.type !== 'message.created') {
      failures.push(`round ${round}: no question was asked`)
      break
    }
    const start = performance.now()
    await person.press(sessionId, asked.messageId, 0)
    const res = await held
    if (!allowed(res.body)) failures.push(`round ${round}: unexpected hook answer ${res.body.slice(0, 200)}`)
    else if (round >= WARMUP) samples.push(res.at - start)
  }
  samples.sort((a, b) => a - b)
  const p99 = percentile(samples, 99)
  return {
    title: 'Hook answer latency (Allow pressed on the dashboard -> held PermissionRequest hook returns)',
    notes: [
      `${samples.length} rounds after ${WARMUP} warm-up rounds, one session; once the question exists, ` +
        'its Allow button is pressed as the instance page does (form POST with the session cookie and ' +
        'CSRF token). In-process Parley, real HTTP on 127.0.0.1.',
    ],
    rows: [
      { what: 'p50', value: ms(percentile(samples, 50)) },
      { what: 'p99', value: ms(p99), target: '< 15 ms', ok: p99 < 15 },
      { what: 'max', value: ms(samples.at(-1) ?? Number.NaN) },
    ],
    failures,
  }
}

/** HELD hook requests parked at once: memory per request and database work while they wait. */
export async function heldHooks(databaseUrl: string): Promise<Section> {
  const server = await startChildServer(databaseUrl)
  const { port, key, listeners } = server
  const waiters: Waiter[] = []
  try {
    const client = agentClient(server.base, key)
    const idle = await listeners()
    const hold = async (n: number) => {
      const sessions = Array.from({ length: n }, () => crypto.randomUUID())
      const batch = await Promise.all(
        sessions.map((id) => parkRaw(port, key, '/hooks/claude-code?timeout=600', permissionRequest(id))),
      )
      waiters.push(...batch)
      await until(async () => (await listeners()) >= idle + n, 60_000, `${n} held hook requests`)
      return { sessions, batch }
    }
    const answer = (sessions: string[]) =>
      Promise.all(
        sessions.map((id) =>
          client.post('/api/v1/messages/user', {
            agent_instance_id: id,
            content: DENY_WORDS,
            mark_as_read: false,
          }),
        ),
      )

    // Warm-up, so first-use allocations are not counted per request.
    const warm = await hold(WARM_HELD)
    await answer(warm.sessions)
    await Promise.all(warm.batch.map((w) => w.done))
    for (const w of warm.batch) w.close()
    await sleep(1000)
    await server.gc()
    const rssBefore = server.rssKiB()

    const parkStart = performance.now()
    const held = await hold(HELD)
    const parkSeconds = (performance.now() - parkStart) / 1000
    const parkedAt = Date.now()
    await sleep(2000)
    await server.gc()
    const rssAfter = server.rssKiB()
    const work = await idleWork(server, parkedAt, 'holding')
    const early = held.batch.filter((w) => w.settled()).length

    const releaseStart = performance.now()
    await answer(held.sessions)
    const replies = await Promise.race([
      Promise.all(held.batch.map((w) => w.done)),
      sleep(30_000).then(() => null),
    ])
    const releaseSeconds = (performance.now() - releaseStart) / 1000
    const ok = (replies ?? []).filter((r) => r.status === 200 && deniedWithWords(r.body)).length
    const failures: string[] = []
    if (early > 0) failures.push(`${early} held hook requests returned before they were answered`)
    if (!replies) failures.push('not every held hook request returned within 30 s of the answers')
    else if (ok !== HELD)
      failures.push(`${ok} of ${HELD} held hook requests came back denied with the typed words`)
    // A second burst on the warmed process (as for the long-poll waiters): the allocator keeps the
    // first burst's pages, so what another HELD requests add is what a running server pays.
    for (const w of held.batch) w.close()
    await sleep(1000)
    await server.gc()
    const rssReleased = server.rssKiB()
    const again = await hold(HELD)
    await sleep(2000)
    await server.gc()
    const rssAgain = server.rssKiB()
    await answer(again.sessions)
    if (
      !(await Promise.race([Promise.all(again.batch.map((w) => w.done)), sleep(30_000).then(() => null)]))
    ) {
      failures.push('not every held hook request of the second burst returned within 30 s of the answers')
    }
    return {
      title: `Held hook requests (${HELD} PermissionRequest hooks waiting at once, server in a child process)`,
      notes: [
        `One raw TCP connection per request, one session each (so each also created its instance). Held in ` +
          `${parkSeconds.toFixed(1)} s; RSS from /proc/<pid>/status after a forced GC ` +
          `(${(rssBefore / 1024).toFixed(1)} MiB before, ${(rssAfter / 1024).toFixed(1)} MiB holding). ` +
          `Released in ${releaseSeconds.toFixed(2)} s: ${ok} allowed; then a second burst of ${HELD} on the ` +
          `warmed process (${(rssReleased / 1024).toFixed(1)} -> ${(rssAgain / 1024).toFixed(1)} MiB). ` +
          'Postgres commits include autovacuum.',
      ],
      rows: [
        {
          what: 'server RSS per held hook request, first burst (each creating its instance)',
          value: `${((rssAfter - rssBefore) / HELD).toFixed(2)} KiB`,
        },
        {
          what: 'server RSS per held hook request, second burst (warmed process)',
          value: `${((rssAgain - rssReleased) / HELD).toFixed(2)} KiB`,
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
