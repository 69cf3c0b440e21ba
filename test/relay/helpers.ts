// Relay fixtures: a real Parley server on a free port, agent and viewer websockets that record
// what they get (decoded frames, viewer events, the close code), and a raw viewer that stops
// reading (a slow peer).
import { connect, type Socket } from 'node:net'
import { createWebSession } from '../../src/auth/web-sessions.ts'
import { loadConfig } from '../../src/config.ts'
import { startParley } from '../../src/main.ts'
import { decodeFrames, encodeFrame, type Frame, FrameType } from '../../src/relay/frames.ts'
import type { RelayOptions, ViewerEvent } from '../../src/relay/hub.ts'
import { type DbKind, freshDatabase, makeUser, until } from '../helpers.ts'

export async function relayServer(
  kind: DbKind,
  relay: Partial<RelayOptions> = {},
  opts: { disconnectAfterMs?: number } = {},
) {
  const db = await freshDatabase(kind)
  const parley = await startParley(loadConfig({ PORT: '0' }), {
    database: db.database,
    quiet: true,
    extend: () => ({ relay }),
    ...opts,
  })
  const host = `127.0.0.1:${parley.port}`
  const user = async (label: string) => {
    const u = await makeUser(db.database.db, label)
    const { token } = await createWebSession(db.database.db, u.id)
    return { ...u, cookie: `parley_session=${token}` }
  }
  return {
    host,
    base: `http://${host}`,
    ws: `ws://${host}`,
    parley,
    db: db.database,
    user,
    close: async () => {
      await parley.stop()
      await db.drop()
    },
  }
}

export type Peer = {
  socket: WebSocket
  frames: Frame[]
  events: ViewerEvent[]
  closed: { code: number; reason: string } | null
  /** OUTPUT and INPUT bytes received so far. */
  received: number
  /** All OUTPUT (viewer) or INPUT (agent) bytes so far, as text. */
  text(): string
  send(f: Frame): void
  opened: Promise<void>
}

/** A websocket that records what arrives. Bun's client takes `headers` (cookie, Authorization). */
export function peer(
  url: string,
  opts: { headers?: Record<string, string>; protocols?: string[] } = {},
): Peer {
  // biome-ignore lint/suspicious/noExplicitAny: Bun's WebSocket accepts headers beside protocols
  const socket = new WebSocket(url, { headers: opts.headers, protocols: opts.protocols } as any)
  socket.binaryType = 'arraybuffer'
  const p: Peer = {
    socket,
    frames: [],
    events: [],
    closed: null,
    received: 0,
    text: () =>
      p.frames
        .filter((f) => f.type === FrameType.OUTPUT || f.type === FrameType.INPUT)
        .map((f) => new TextDecoder().decode((f as { data: Uint8Array }).data))
        .join(''),
    send: (f) => socket.send(encodeFrame(f) as Uint8Array<ArrayBuffer>),
    opened: new Promise((resolve, reject) => {
      socket.addEventListener('open', () => resolve())
      socket.addEventListener('close', (e) => reject(new Error(`closed before open (${e.code})`)))
    }),
  }
  p.opened.catch(() => {})
  socket.addEventListener('message', (e) => {
    if (typeof e.data === 'string') return
    for (const f of decodeFrames(new Uint8Array(e.data as ArrayBuffer))) {
      p.frames.push(f)
      if (f.type === FrameType.OUTPUT || f.type === FrameType.INPUT) p.received += f.data.length
      if (f.type === FrameType.METADATA) p.events.push(f.value as ViewerEvent)
    }
  })
  socket.addEventListener('close', (e) => {
    p.closed = { code: e.code, reason: e.reason }
  })
  return p
}

export const output = (text: string): Frame => ({
  type: FrameType.OUTPUT,
  data: new TextEncoder().encode(text),
})
export const input = (text: string): Frame => ({
  type: FrameType.INPUT,
  data: new TextEncoder().encode(text),
})

export const closedWith = async (p: Peer, what = 'close') => {
  await until(() => p.closed !== null, 5000, what)
  return p.closed!.code
}

/** The HTTP answer to a websocket handshake (a refused one never upgrades). */
export async function handshake(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url.replace(/^ws/, 'http'), {
    headers: {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': btoa('0123456789abcdef'),
      ...headers,
    },
  })
  // biome-ignore lint/suspicious/noExplicitAny: asserted field by field
  const json = (await res.json().catch(() => null)) as any
  return { status: res.status, json, headers: res.headers }
}

/** The head of the server's answer to a websocket handshake sent by hand, as text. */
export async function rawHandshake(host: string, path: string, headers: Record<string, string>) {
  const [hostname, port] = host.split(':') as [string, string]
  const socket = connect({ host: hostname, port: Number(port) })
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`)
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${btoa('0123456789abcdef')}\r\n${extra.join('')}\r\n`,
  )
  const head = await new Promise<string>((resolve, reject) => {
    socket.once('data', (chunk) => resolve(String(chunk).split('\r\n\r\n')[0]!))
    socket.once('error', reject)
  })
  socket.destroy()
  return head
}

/** A viewer that completes the handshake and then never reads: the server's queue for it grows. */
export async function stalledViewer(host: string, path: string, cookie: string): Promise<Socket> {
  const [hostname, port] = host.split(':') as [string, string]
  const socket = connect({ host: hostname, port: Number(port) })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${btoa('0123456789abcdef')}\r\nCookie: ${cookie}\r\n\r\n`,
  )
  await new Promise<void>((resolve) => {
    socket.once('data', (chunk) => {
      if (!String(chunk).startsWith('HTTP/1.1 101'))
        throw new Error(`no upgrade: ${String(chunk).slice(0, 80)}`)
      resolve()
    })
  })
  socket.pause()
  return socket
}
