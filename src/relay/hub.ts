// One process's relayed terminals, in memory: per instance the agent's socket, its viewers, the
// last output for late viewers (Replay) and the terminal's current size. Output fans out to every
// viewer without waiting on any: a viewer whose unsent bytes go over the bound is closed
// (TOO_SLOW) rather than slowing the agent or the others, and may reconnect to the replay.
// Messages to viewers that are not terminal bytes are METADATA frames carrying a ViewerEvent.
import { RELAY_CLOSE } from './close-codes.ts'
import { decodeFrames, encodeFrame, type Frame, FrameError, FrameType } from './frames.ts'
import { Replay } from './replay.ts'

/** What the relay needs of a websocket (Bun's ServerWebSocket has all of it). */
export type RelayPeer = {
  send(data: Uint8Array): number
  close(code?: number, reason?: string): void
  getBufferedAmount(): number
  ping(): unknown
}

/** JSON a viewer gets in METADATA frames. */
export type ViewerEvent =
  | { event: 'agent_connected' }
  | { event: 'session_ended' }
  | { event: 'metadata'; value: unknown }
  | { event: 'error'; code: 'READ_ONLY' | 'NOT_CONNECTED'; message: string }

export type RelayOptions = {
  /** Output kept for late viewers (DESIGN: the last 1 MiB). */
  replayBytes: number
  /** Unsent bytes a viewer may have queued before it is closed TOO_SLOW. */
  viewerBufferBytes: number
  /** Every socket is pinged this often, so no idle timeout (Bun's or a proxy's) closes it. */
  pingMs: number
  /** An ended terminal's replay is kept this long after its last viewer leaves. */
  keepEndedMs: number
}

export const RELAY_DEFAULTS: RelayOptions = {
  replayBytes: 1024 * 1024,
  viewerBufferBytes: 4 * 1024 * 1024,
  pingMs: 20_000,
  keepEndedMs: 10 * 60_000,
}

/** A viewer as it was let in: whose it is and whether it may type (checked again on changes). */
export type Viewer = { userId: string; canWrite: boolean }

type Terminal = {
  agent: RelayPeer | null
  viewers: Map<RelayPeer, Viewer>
  replay: Replay
  size: { rows: number; cols: number } | null
  forget: ReturnType<typeof setTimeout> | null
}

const event = (e: ViewerEvent) => encodeFrame({ type: FrameType.METADATA, value: e })

/** The frames of a message, or null after closing the peer for a text message or a bad frame. */
function framesOf(peer: RelayPeer, message: unknown): Frame[] | null {
  if (!(message instanceof Uint8Array)) {
    peer.close(RELAY_CLOSE.UNSUPPORTED_DATA, 'binary frames only')
    return null
  }
  try {
    return decodeFrames(message)
  } catch (err) {
    if (!(err instanceof FrameError)) throw err
    peer.close(RELAY_CLOSE.POLICY_VIOLATION, err.message.slice(0, 120))
    return null
  }
}

export class RelayHub {
  private readonly terminals = new Map<string, Terminal>()
  private readonly opts: RelayOptions
  private pinger: ReturnType<typeof setInterval> | null = null

  constructor(opts: Partial<RelayOptions> = {}) {
    this.opts = { ...RELAY_DEFAULTS, ...opts }
  }

  private terminal(id: string): Terminal {
    let t = this.terminals.get(id)
    if (!t) {
      t = {
        agent: null,
        viewers: new Map(),
        replay: new Replay(this.opts.replayBytes),
        size: null,
        forget: null,
      }
      this.terminals.set(id, t)
    }
    if (t.forget) clearTimeout(t.forget)
    t.forget = null
    this.pinger ??= setInterval(() => this.pingAll(), this.opts.pingMs)
    return t
  }

  /** The agent's socket; an earlier one for the same instance is closed REPLACED. */
  attachAgent(id: string, peer: RelayPeer): void {
    const t = this.terminal(id)
    const previous = t.agent
    t.agent = peer
    previous?.close(RELAY_CLOSE.REPLACED, 'replaced by a newer agent connection')
    this.broadcast(t, event({ event: 'agent_connected' }))
  }

  /** The agent's socket closed; false when it had been replaced (the session goes on). */
  detachAgent(id: string, peer: RelayPeer): boolean {
    const t = this.terminals.get(id)
    if (!t || t.agent !== peer) return false
    t.agent = null
    this.broadcast(t, event({ event: 'session_ended' }))
    this.release(id, t)
    return true
  }

  fromAgent(id: string, peer: RelayPeer, message: unknown): void {
    const t = this.terminals.get(id)
    if (!t || t.agent !== peer) return
    const frames = framesOf(peer, message)
    if (!frames) return
    for (const f of frames) {
      if (f.type === FrameType.OUTPUT) {
        t.replay.push(f.data)
        // One frame in the message (the usual case): pass its bytes on as they came.
        this.broadcast(t, frames.length === 1 ? (message as Uint8Array) : encodeFrame(f))
      } else if (f.type === FrameType.RESIZE) {
        t.size = { rows: f.rows, cols: f.cols }
        this.broadcast(t, encodeFrame(f))
      } else if (f.type === FrameType.METADATA) {
        this.broadcast(t, event({ event: 'metadata', value: f.value }))
      } else {
        peer.close(RELAY_CLOSE.POLICY_VIOLATION, 'an agent sends OUTPUT, RESIZE and METADATA only')
        return
      }
    }
  }

  /** A viewer: gets the size, the replay and whether the agent is there, then live output. */
  attachViewer(id: string, peer: RelayPeer, viewer: Viewer): void {
    const t = this.terminal(id)
    t.viewers.set(peer, viewer)
    if (t.size) peer.send(encodeFrame({ type: FrameType.RESIZE, ...t.size }))
    if (t.replay.length > 0) peer.send(encodeFrame({ type: FrameType.OUTPUT, data: t.replay.bytes() }))
    peer.send(event({ event: t.agent ? 'agent_connected' : 'session_ended' }))
  }

  detachViewer(id: string, peer: RelayPeer): void {
    const t = this.terminals.get(id)
    if (!t?.viewers.delete(peer)) return
    this.release(id, t)
  }

  /** The open viewers of an instance, with what they were let in with. */
  viewersOf(id: string): [RelayPeer, Viewer][] {
    return [...(this.terminals.get(id)?.viewers ?? [])]
  }

  /** A viewer's INPUT and RESIZE go to the agent if it may type; READ viewers get an error event. */
  fromViewer(id: string, peer: RelayPeer, message: unknown): void {
    const t = this.terminals.get(id)
    const viewer = t?.viewers.get(peer)
    if (!t || !viewer) return
    const frames = framesOf(peer, message)
    if (!frames) return
    for (const f of frames) {
      if (f.type !== FrameType.INPUT && f.type !== FrameType.RESIZE) {
        peer.close(RELAY_CLOSE.POLICY_VIOLATION, 'a viewer sends INPUT and RESIZE only')
        return
      }
      if (!viewer.canWrite) {
        peer.send(event({ event: 'error', code: 'READ_ONLY', message: 'This terminal is shared read-only' }))
        return
      }
      if (!t.agent) {
        peer.send(event({ event: 'error', code: 'NOT_CONNECTED', message: 'The agent is not connected' }))
        return
      }
      t.agent.send(encodeFrame(f))
      if (f.type === FrameType.RESIZE) {
        t.size = { rows: f.rows, cols: f.cols }
        this.broadcast(t, encodeFrame(f), peer)
      }
    }
  }

  private broadcast(t: Terminal, bytes: Uint8Array, except?: RelayPeer): void {
    for (const peer of t.viewers.keys()) {
      if (peer === except) continue
      // Bun queues what the client has not read yet; past the bound the viewer is cut off.
      if (peer.getBufferedAmount() > this.opts.viewerBufferBytes || peer.send(bytes) === 0) {
        t.viewers.delete(peer)
        peer.close(RELAY_CLOSE.TOO_SLOW, 'viewer too slow; reconnect for the replay')
      }
    }
  }

  /** Forgets a terminal nobody is on any more, after keeping its replay a while. */
  private release(id: string, t: Terminal): void {
    if (t.agent || t.viewers.size > 0) return
    t.forget = setTimeout(() => {
      if (this.terminals.get(id) === t && !t.agent && t.viewers.size === 0) this.terminals.delete(id)
      this.stopPingerIfIdle()
    }, this.opts.keepEndedMs)
    t.forget.unref?.()
    this.stopPingerIfIdle()
  }

  private pingAll(): void {
    for (const t of this.terminals.values()) {
      t.agent?.ping()
      for (const v of t.viewers.keys()) v.ping()
    }
  }

  private stopPingerIfIdle(): void {
    for (const t of this.terminals.values()) if (t.agent || t.viewers.size > 0) return
    if (this.pinger) clearInterval(this.pinger)
    this.pinger = null
  }

  /** Closes every socket (the server is stopping) and forgets everything. */
  closeAll(): void {
    for (const t of this.terminals.values()) {
      if (t.forget) clearTimeout(t.forget)
      t.agent?.close(RELAY_CLOSE.GOING_AWAY, 'server stopping')
      for (const v of t.viewers.keys()) v.close(RELAY_CLOSE.GOING_AWAY, 'server stopping')
    }
    this.terminals.clear()
    if (this.pinger) clearInterval(this.pinger)
    this.pinger = null
  }
}
