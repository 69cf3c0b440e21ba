// Relay websocket messages, fair or damaged, for the property that decodeFrames returns frames or
// throws a FrameError and nothing else (test/http/hostile-input.test.ts, bench/hostile.ts).
import fc from 'fast-check'
import { decodeFrames, encodeFrame, type Frame, FrameError, FrameType } from '../../src/relay/frames.ts'

const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    type: fc.constantFrom(FrameType.OUTPUT, FrameType.INPUT),
    data: fc.uint8Array({ maxLength: 32 }),
  }),
  fc.record({ type: fc.constant(FrameType.RESIZE), rows: fc.nat(65_535), cols: fc.nat(65_535) }),
  fc.record({ type: fc.constant(FrameType.METADATA), value: fc.json().map((j) => JSON.parse(j)) }),
)

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Websocket messages of frames, fair or damaged: random bytes, a flipped byte, a cut, a lying length. */
export const frameMessages: fc.Arbitrary<{ bytes: Uint8Array; frames: Frame[] | null }> = fc.oneof(
  fc.array(frame, { maxLength: 4 }).map((frames) => ({ bytes: concat(frames.map(encodeFrame)), frames })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes, frames: null })),
  fc
    .tuple(
      fc.array(frame, { minLength: 1, maxLength: 3 }),
      fc.nat(),
      fc.nat(255),
      fc.constantFrom('flip', 'cut', 'length'),
    )
    .map(([frames, at, byte, how]) => {
      const bytes = concat(frames.map(encodeFrame))
      const i = at % bytes.length
      if (how === 'cut') return { bytes: bytes.subarray(0, i), frames: null }
      if (how === 'length') new DataView(bytes.buffer).setUint32(0 + 1, 0xffff_ffff - byte)
      else bytes[i] = byte
      return { bytes, frames: null }
    }),
)

/** Decodes as the relay does: frames, or a FrameError; anything else thrown is a bug. */
export function decodeOrRefuse(bytes: Uint8Array): Frame[] | FrameError {
  try {
    return decodeFrames(bytes)
  } catch (err) {
    if (err instanceof FrameError) return err
    throw err
  }
}
