// A minimal HTTP/1.1 client on raw TCP sockets, for parking thousands of long-polls at once
// without fetch's connection pool limits: one connection per request, kept open until closed.
import type { Socket } from 'bun'

/** status 0: the connection failed or closed before a reply (body says why). */
export type Reply = { status: number; body: string }
export type Waiter = { done: Promise<Reply>; settled(): boolean; close(): void }

/** Parses a complete response from `buf`, or returns null if more bytes are needed. */
function parse(buf: Buffer): Reply | null {
  const end = buf.indexOf('\r\n\r\n')
  if (end < 0) return null
  const head = buf.subarray(0, end).toString('latin1')
  const status = Number(head.slice(9, 12))
  const rest = buf.subarray(end + 4)
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
  if (length !== undefined) {
    return rest.length >= Number(length)
      ? { status, body: rest.subarray(0, Number(length)).toString() }
      : null
  }
  if (!/\r\ntransfer-encoding:\s*chunked/i.test(head)) return null
  // Chunked: decode once the terminating zero-length chunk has arrived.
  if (rest.indexOf('0\r\n\r\n') < 0) return null
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const nl = rest.indexOf('\r\n', at)
    const size = Number.parseInt(rest.subarray(at, nl).toString('latin1'), 16)
    if (!size) return { status, body: Buffer.concat(parts).toString() }
    parts.push(rest.subarray(nl + 2, nl + 2 + size))
    at = nl + 2 + size + 2
  }
}

/**
 * Opens a connection, sends `GET path` (or a JSON `POST` when `body` is given) with the API key,
 * and resolves `done` with the reply.
 */
export async function parkRaw(port: number, key: string, path: string, body?: string): Promise<Waiter> {
  let settled = false
  let chunks = Buffer.alloc(0)
  let resolve!: (r: Reply) => void
  const done = new Promise<Reply>((res) => {
    resolve = res
  })
  const finish = (r: Reply) => {
    if (settled) return
    settled = true
    resolve(r)
  }
  const socket: Socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_s, data) {
        chunks = Buffer.concat([chunks, data])
        const reply = parse(chunks)
        if (reply) finish(reply)
      },
      close() {
        finish({ status: 0, body: 'connection closed before a reply' })
      },
      error(_s, err) {
        finish({ status: 0, body: String(err) })
      },
    },
  })
  const content =
    body === undefined
      ? ''
      : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
  socket.write(
    `${body === undefined ? 'GET' : 'POST'} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Authorization: Bearer ${key}\r\n${content}Connection: keep-alive\r\n\r\n${body ?? ''}`,
  )
  return { done, settled: () => settled, close: () => socket.end() }
}
