// Terminal relay fan-out: one agent writes 1 MB/s of output to 100 viewers for 10 s, against
// Parley in a child process (bench/server.ts) so that its CPU time and memory are its own. Each
// OUTPUT frame starts with its sequence number; agent and viewers live in this process, so one
// clock times every frame from the agent's send to each viewer's receipt. The clients share this
// process (2 cores with the server): the latency is an upper bound of the relay's own.
import { readFileSync } from 'node:fs'
import { createApiKey } from '../src/auth/api-keys.ts'
import { createWebSession } from '../src/auth/web-sessions.ts'
import { createUser } from '../src/core/users.ts'
import { connectPostgres } from '../src/db/client.ts'
import { decodeFrames, encodeFrame, FrameType } from '../src/relay/frames.ts'
import { startChildServer, until } from './child-server.ts'
import { ms, percentile, type Section, sleep } from './lib.ts'

const VIEWERS = 100
const SECONDS = 10
const FRAMES_PER_SECOND = 100
const FRAME_BYTES = 10_000 // 100 frames/s x 10 kB = 1 MB/s

/** User + system CPU seconds of a process so far (Linux clock ticks are 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

type Socket = WebSocket & { received: number }

function open(
  url: string,
  headers: Record<string, string>,
  onFrame?: (seq: number) => void,
): Promise<Socket> {
  // biome-ignore lint/suspicious/noExplicitAny: Bun's WebSocket takes headers
  const ws = new WebSocket(url, { headers } as any) as Socket
  ws.binaryType = 'arraybuffer'
  ws.received = 0
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') return
    for (const f of decodeFrames(new Uint8Array(e.data as ArrayBuffer))) {
      if (f.type !== FrameType.OUTPUT || f.data.length !== FRAME_BYTES) continue
      ws.received++
      onFrame?.(new DataView(f.data.buffer, f.data.byteOffset).getUint32(0))
    }
  }
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws)
    ws.onerror = () => reject(new Error(`cannot open ${url}`))
  })
}

export async function relayFanout(databaseUrl: string): Promise<Section> {
  const failures: string[] = []
  const server = await startChildServer(databaseUrl)
  const database = connectPostgres(databaseUrl, { max: 2 })
  const sockets: Socket[] = []
  try {
    const user = await createUser(database.db, {
      email: `relay-${crypto.randomUUID().slice(0, 8)}@example.com`,
      password: 'benchmark password',
    })
    const { key } = await createApiKey(database.db, { userId: user.id, name: 'relay bench' })
    const { token } = await createWebSession(database.db, user.id)
    const ws = server.base.replace(/^http/, 'ws')
    const id = crypto.randomUUID()
    const agent = await open(`${ws}/relay/agent?session_id=${id}`, { authorization: `Bearer ${key}` })
    sockets.push(agent)

    await server.gc()
    const rssBefore = server.rssKiB()
    const sentAt: number[] = []
    const latencies: number[] = []
    for (let i = 0; i < VIEWERS; i++) {
      const viewer = await open(`${ws}/relay/view/${id}`, { cookie: `parley_session=${token}` }, (seq) => {
        latencies.push(performance.now() - sentAt[seq]!)
      })
      sockets.push(viewer)
    }
    await sleep(500)
    await server.gc()
    const perViewerKiB = (server.rssKiB() - rssBefore) / VIEWERS

    const total = SECONDS * FRAMES_PER_SECOND
    const cpuStart = cpuSeconds(server.pid)
    const wallStart = performance.now()
    const payload = new Uint8Array(FRAME_BYTES).fill(0x61)
    for (let seq = 0; seq < total; seq++) {
      // Paced against the clock, not by sleeping a fixed time per frame (timers drift).
      const due = wallStart + (seq * 1000) / FRAMES_PER_SECOND
      const wait = due - performance.now()
      if (wait > 1) await sleep(wait)
      new DataView(payload.buffer).setUint32(0, seq)
      sentAt[seq] = performance.now()
      agent.send(encodeFrame({ type: FrameType.OUTPUT, data: payload }) as Uint8Array<ArrayBuffer>)
    }
    const viewers = sockets.slice(1)
    await until(
      async () => viewers.every((v) => v.received >= total),
      20_000,
      'every viewer got every frame',
    ).catch(() =>
      failures.push(`viewers got ${viewers.map((v) => v.received).join(', ')} of ${total} frames`),
    )
    const wall = (performance.now() - wallStart) / 1000
    const cpuShare = (cpuSeconds(server.pid) - cpuStart) / wall
    const rssAfter = server.rssKiB()
    latencies.sort((a, b) => a - b)
    const p99 = percentile(latencies, 99)
    return {
      title: `Terminal relay fan-out (1 agent at 1 MB/s, ${VIEWERS} viewers, ${SECONDS} s)`,
      notes: [
        `${FRAMES_PER_SECOND} OUTPUT frames/s of ${FRAME_BYTES / 1000} kB, paced by the clock; ${latencies.length} ` +
          'frame deliveries timed from the agent socket send to the viewer socket receipt, both in the bench ' +
          'process (which shares the 2 cores with the server). CPU share is the server process user+system ' +
          'time over the wall time of the run (1.0 = one core). Memory per viewer is the server RSS growth after ' +
          `connecting the ${VIEWERS} viewers (forced GC before and after), divided by ${VIEWERS}.`,
      ],
      rows: [
        { what: 'p50 frame latency agent -> viewer', value: ms(percentile(latencies, 50)) },
        { what: 'p99 frame latency agent -> viewer', value: ms(p99), target: '< 10 ms', ok: p99 < 10 },
        { what: 'server CPU share during the run', value: `${(cpuShare * 100).toFixed(0)} % of one core` },
        { what: 'server memory per viewer', value: `${perViewerKiB.toFixed(0)} KiB` },
        { what: 'server RSS at the end', value: `${(rssAfter / 1024).toFixed(0)} MiB` },
      ],
      failures,
    }
  } finally {
    for (const s of sockets) s.close()
    await database.close()
    await server.stop()
  }
}
