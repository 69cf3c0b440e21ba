// The agent end of the terminal relay, for `parley run`: one websocket to /relay/agent that is
// kept up for as long as the command runs. When the server goes away (a restart, a deploy, the
// network) it reconnects with exponential backoff; output produced meanwhile waits in a bounded
// buffer and is sent first on the next connection, so viewers lose nothing short of the bound.
// The same buffer stands between the command and a connection that is open but slow, so a
// command writing faster than the network never makes parley hold more than the bound.
import { RELAY_CLOSE } from '../relay/close-codes.ts'
import {
  decodeFrames,
  encodeFrame,
  type Frame,
  FrameError,
  FrameType,
  MAX_FRAME_PAYLOAD,
  RELAY_PROTOCOL,
} from '../relay/frames.ts'

/** Bun's WebSocket takes request headers (the API key); the DOM typings, which win here, do not. */
const BunWebSocket = WebSocket as unknown as new (url: string, options: Bun.WebSocketOptions) => WebSocket
const openSocket = (url: string, headers: Record<string, string>): WebSocket =>
  new BunWebSocket(url, { headers, protocols: [RELAY_PROTOCOL] })

const send = (ws: WebSocket, frame: Frame) => ws.send(encodeFrame(frame) as Uint8Array<ArrayBuffer>)

/** Output kept while disconnected (or while the connection lags): the newest 1 MiB, what a
 * viewer's replay holds too. */
export const OFFLINE_BUFFER_BYTES = 1024 * 1024
/** Output handed to an open socket but not yet on the wire, past which the rest waits here. */
export const SEND_AHEAD_BYTES = 256 * 1024
/** How soon a lagging connection is looked at again. */
const LAG_RETRY_MS = 50
/** How long closing waits for the relay to confirm the close. */
const CLOSE_WAIT_MS = 1000
/** Backoff between connection attempts: doubles from the first to the last, then stays. */
export const BACKOFF_FIRST_MS = 250
export const BACKOFF_MAX_MS = 15_000

/**
 * Closes after which trying again cannot help, and what they mean to the person at the terminal
 * (the relay's close codes, src/relay/close-codes.ts). Any other close, 1001 (server stopping)
 * and 1006 (connection lost) among them, is reconnected.
 */
const FINAL_CLOSES: Record<number, string> = {
  [RELAY_CLOSE.UNSUPPORTED_DATA]: 'a frame could not be read (is PARLEY_URL a Parley relay?)',
  [RELAY_CLOSE.POLICY_VIOLATION]: 'the relay refused a frame',
  [RELAY_CLOSE.REPLACED]: 'another parley run took over this session',
  [RELAY_CLOSE.KEY_REVOKED]: 'the API key was revoked',
}

export type RelayLinkOptions = {
  /** ws:// or wss:// URL of /relay/agent?session_id=… */
  url: string
  apiKey: string
  /** Sent as METADATA on every connection, so a restarted server knows the terminal again. */
  metadata: () => unknown
  /** The terminal size, sent as RESIZE on every connection. */
  size: () => { rows: number; cols: number }
  onInput: (data: Uint8Array) => void
  onResize: (rows: number, cols: number) => void
  /** One line for the person at the terminal (connection lost, given up). */
  warn: (line: string) => void
  /** Opens the websocket (Bun's, with the Authorization header); replaceable to watch the link. */
  socket?: (url: string, headers: Record<string, string>) => WebSocket
}

export class RelayLink {
  private ws: WebSocket | null = null
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private dropped = 0
  private attempt = 0
  private timer: ReturnType<typeof setTimeout> | null = null
  private lagTimer: ReturnType<typeof setTimeout> | null = null
  private closed = false
  private wasOpen = false

  constructor(private readonly opts: RelayLinkOptions) {
    this.connect()
  }

  /** Output of the command: sent when the connection can take it, else kept (newest OFFLINE_BUFFER_BYTES). */
  output(data: Uint8Array): void {
    if (this.closed) return
    this.keep(data)
    this.flush()
  }

  resized(rows: number, cols: number): void {
    const ws = this.ws
    if (ws && ws.readyState === WebSocket.OPEN) send(ws, { type: FrameType.RESIZE, rows, cols })
  }

  /** Sends what is still buffered if it can (within `graceMs`), then closes for good. */
  async close(graceMs = 2000): Promise<void> {
    if (this.closed) return
    const deadline = Date.now() + graceMs
    // Output still waiting goes out if a connection is open or on its way; a link that is
    // between attempts is not waited for.
    while (this.pending.length > 0 && this.ws && Date.now() < deadline) await Bun.sleep(20)
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    if (this.lagTimer) clearTimeout(this.lagTimer)
    const ws = this.ws
    this.ws = null
    if (!ws) return
    // Let queued frames leave before the close frame does.
    while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > 0 && Date.now() < deadline)
      await Bun.sleep(10)
    if (ws.readyState === WebSocket.CLOSED) return
    // Until the relay has seen the close: the session's end must come after the socket's, or the
    // server could see a live terminal for an ended session.
    let timer: ReturnType<typeof setTimeout> | undefined
    const gone = new Promise<void>((resolve) => {
      ws.onclose = () => resolve() // the link is closed: nothing else to do on this close
      timer = setTimeout(resolve, CLOSE_WAIT_MS)
    })
    ws.close(1000, 'command exited')
    await gone
    clearTimeout(timer)
  }

  private keep(data: Uint8Array): void {
    this.pending.push(data)
    this.pendingBytes += data.length
    while (this.pendingBytes > OFFLINE_BUFFER_BYTES) {
      const first = this.pending[0]!
      const over = this.pendingBytes - OFFLINE_BUFFER_BYTES
      if (first.length <= over) {
        this.pending.shift()
        this.pendingBytes -= first.length
        this.dropped += first.length
      } else {
        this.pending[0] = first.subarray(over)
        this.pendingBytes -= over
        this.dropped += over
      }
    }
  }

  /** Sends what is kept, oldest first, as far as the open connection keeps up. */
  private flush(): void {
    const ws = this.ws
    if (!ws || ws.readyState !== WebSocket.OPEN || this.lagTimer) return
    if (this.dropped > 0) {
      const note = `\r\n[parley: ${this.dropped} bytes of output dropped while the relay was away or slow]\r\n`
      this.sendOutput(ws, new TextEncoder().encode(note))
      this.dropped = 0
    }
    while (this.pending.length > 0 && ws.bufferedAmount < SEND_AHEAD_BYTES) {
      const chunk = this.pending.shift()!
      this.pendingBytes -= chunk.length
      this.sendOutput(ws, chunk)
    }
    if (this.pending.length > 0)
      this.lagTimer = setTimeout(() => {
        this.lagTimer = null
        this.flush()
      }, LAG_RETRY_MS)
  }

  private sendOutput(ws: WebSocket, data: Uint8Array): void {
    for (let at = 0; at < data.length; at += MAX_FRAME_PAYLOAD)
      send(ws, { type: FrameType.OUTPUT, data: data.subarray(at, at + MAX_FRAME_PAYLOAD) })
  }

  private connect(): void {
    if (this.closed) return
    const ws = (this.opts.socket ?? openSocket)(this.opts.url, {
      authorization: `Bearer ${this.opts.apiKey}`,
    })
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    ws.onopen = () => {
      if (this.ws !== ws) return
      this.attempt = 0
      if (this.wasOpen) this.opts.warn('reconnected to the relay')
      this.wasOpen = true
      send(ws, { type: FrameType.METADATA, value: this.opts.metadata() })
      const { rows, cols } = this.opts.size()
      send(ws, { type: FrameType.RESIZE, rows, cols })
      this.flush()
    }
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') return // the relay speaks binary frames only
      let frames: ReturnType<typeof decodeFrames>
      try {
        frames = decodeFrames(new Uint8Array(event.data as ArrayBuffer))
      } catch (err) {
        if (!(err instanceof FrameError)) throw err
        ws.close(RELAY_CLOSE.UNSUPPORTED_DATA, err.message)
        return
      }
      for (const f of frames) {
        if (f.type === FrameType.INPUT) this.opts.onInput(f.data)
        else if (f.type === FrameType.RESIZE) this.opts.onResize(f.rows, f.cols)
      }
    }
    ws.onclose = (event) => {
      if (this.ws !== ws || this.closed) return
      this.ws = null
      const final = FINAL_CLOSES[event.code]
      if (final) {
        this.closed = true
        this.opts.warn(`${final} (${event.code}); the command goes on, no longer streamed`)
        return
      }
      if (this.attempt === 0 && this.wasOpen)
        this.opts.warn('lost the relay; reconnecting (output is kept meanwhile)')
      // Never connected: say so once (a refused key or a wrong URL would otherwise go unnoticed).
      if (this.attempt === 0 && !this.wasOpen)
        this.opts.warn(`cannot connect to the relay (${event.code}); trying again in the background`)
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt)
      this.attempt++
      // Jitter keeps a fleet of terminals from reconnecting in step after a restart.
      this.timer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() * 0.5))
    }
  }
}
