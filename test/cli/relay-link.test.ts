// The relay link's bound when the connection is open but the network is slower than the command:
// a socket that reports its unsent bytes, as a stalled connection would, in place of a real one.
import { expect, test } from 'bun:test'
import { OFFLINE_BUFFER_BYTES, RelayLink } from '../../src/cli/relay-link.ts'
import { decodeFrames, type Frame, FrameType } from '../../src/relay/frames.ts'
import { until } from '../helpers.ts'

class StalledSocket {
  readyState: number = WebSocket.CONNECTING
  binaryType = ''
  bufferedAmount = 0
  frames: Frame[] = []
  onopen: (() => void) | null = null
  onmessage: ((e: { data: unknown }) => void) | null = null
  onclose: ((e: { code: number; reason: string }) => void) | null = null
  send(data: Uint8Array) {
    this.frames.push(...decodeFrames(data))
  }
  close() {
    this.readyState = WebSocket.CLOSED
    this.onclose?.({ code: 1000, reason: '' })
  }
  open() {
    this.readyState = WebSocket.OPEN
    this.onopen?.()
  }
}

/** A link whose sockets come from `next`, its warnings kept in `warned`. */
const linkOn = (next: () => StalledSocket, warned: string[]) =>
  new RelayLink({
    url: 'ws://relay.test/relay/agent?session_id=x',
    apiKey: 'k',
    metadata: () => ({}),
    size: () => ({ rows: 24, cols: 80 }),
    onInput: () => {},
    onResize: () => {},
    warn: (line) => warned.push(line),
    socket: () => next() as unknown as WebSocket,
  })

const outputBytes = (frames: Frame[]) =>
  frames.filter((f) => f.type === FrameType.OUTPUT).map((f) => new TextDecoder().decode(f.data))

test('a lagging connection is not handed more than the bound: the newest 1 MiB goes once it catches up', async () => {
  const socket = new StalledSocket()
  const warned: string[] = []
  const link = linkOn(() => socket, warned)
  socket.open()
  socket.bufferedAmount = 10 * 1024 * 1024 // nothing leaves
  const chunk = 'y'.repeat(64 * 1024)
  for (let i = 0; i < 48; i++) link.output(new TextEncoder().encode(chunk)) // 3 MiB
  expect(outputBytes(socket.frames)).toEqual([])
  socket.bufferedAmount = 0
  await until(() => outputBytes(socket.frames).length > 0, 5000, 'output after the lag')
  const [note, ...rest] = outputBytes(socket.frames)
  expect(note).toBe(
    `\r\n[parley: ${2 * 1024 * 1024} bytes of output dropped while the relay was away or slow]\r\n`,
  )
  expect(rest.join('').length).toBe(OFFLINE_BUFFER_BYTES)
  await link.close(0)
  expect(warned).toEqual([])
})

test('a relay that refuses every attempt is reported once, and tried again', async () => {
  const sockets: StalledSocket[] = []
  const warned: string[] = []
  const link = linkOn(() => {
    const socket = new StalledSocket()
    sockets.push(socket)
    // Refused before the upgrade, as a 401 or 404 is seen by a websocket client.
    queueMicrotask(() => {
      socket.readyState = WebSocket.CLOSED
      socket.onclose?.({ code: 1002, reason: '' })
    })
    return socket
  }, warned)
  await until(() => sockets.length >= 3, 5000, 'three attempts')
  await link.close(0)
  expect(warned).toEqual(['cannot connect to the relay (1002); trying again in the background'])
})
