/**
 * The relay's wire format, shared by the server sockets and `parley run`: binary frames
 * `[type u8][len u32 BE][payload]` (Omnara's framing). One websocket message may carry several
 * frames back to back; a frame never spans two messages.
 */

/** The websocket subprotocol both sides offer; the server echoes it (and never anything else). */
export const RELAY_PROTOCOL = 'parley.v1'

export const FrameType = {
  OUTPUT: 0,
  INPUT: 1,
  RESIZE: 2,
  METADATA: 3,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

const HEADER_BYTES = 5
/** The largest payload one frame may carry; a bigger length is a protocol error. */
export const MAX_FRAME_PAYLOAD = 1024 * 1024

export type Frame =
  | { type: typeof FrameType.OUTPUT; data: Uint8Array }
  | { type: typeof FrameType.INPUT; data: Uint8Array }
  | { type: typeof FrameType.RESIZE; rows: number; cols: number }
  | { type: typeof FrameType.METADATA; value: unknown }

export class FrameError extends Error {
  override name = 'FrameError'
}

function frame(type: FrameType, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length)
  const view = new DataView(out.buffer)
  view.setUint8(0, type)
  view.setUint32(1, payload.length)
  out.set(payload, HEADER_BYTES)
  return out
}

export function encodeFrame(f: Frame): Uint8Array {
  switch (f.type) {
    case FrameType.OUTPUT:
    case FrameType.INPUT:
      return frame(f.type, f.data)
    case FrameType.RESIZE: {
      const payload = new Uint8Array(4)
      const view = new DataView(payload.buffer)
      view.setUint16(0, f.rows)
      view.setUint16(2, f.cols)
      return frame(f.type, payload)
    }
    case FrameType.METADATA:
      return frame(f.type, new TextEncoder().encode(JSON.stringify(f.value)))
  }
}

/**
 * Every frame in one websocket message. Throws FrameError on an unknown type, a length that runs
 * past the message, an oversized payload, a RESIZE that is not 4 bytes or METADATA that is not
 * JSON: the caller closes the socket (1003/1008) rather than guessing.
 */
export function decodeFrames(message: Uint8Array): Frame[] {
  const frames: Frame[] = []
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength)
  let at = 0
  while (at < message.length) {
    if (message.length - at < HEADER_BYTES) throw new FrameError('truncated frame header')
    const type = view.getUint8(at)
    const length = view.getUint32(at + 1)
    if (length > MAX_FRAME_PAYLOAD) throw new FrameError(`frame of ${length} bytes is over the limit`)
    const start = at + HEADER_BYTES
    if (start + length > message.length) throw new FrameError('frame runs past the message')
    const payload = message.subarray(start, start + length)
    frames.push(decodePayload(type, payload))
    at = start + length
  }
  return frames
}

function decodePayload(type: number, payload: Uint8Array): Frame {
  switch (type) {
    case FrameType.OUTPUT:
    case FrameType.INPUT:
      return { type, data: payload }
    case FrameType.RESIZE: {
      if (payload.length !== 4) throw new FrameError('a RESIZE frame carries 4 bytes (rows, cols)')
      const view = new DataView(payload.buffer, payload.byteOffset, 4)
      return { type, rows: view.getUint16(0), cols: view.getUint16(2) }
    }
    case FrameType.METADATA:
      try {
        return { type, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) }
      } catch {
        throw new FrameError('a METADATA frame carries UTF-8 JSON')
      }
    default:
      throw new FrameError(`unknown frame type ${type}`)
  }
}
