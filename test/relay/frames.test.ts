import { describe, expect, test } from 'bun:test'
import { decodeFrames, encodeFrame, FrameError, FrameType, MAX_FRAME_PAYLOAD } from '../../src/relay/frames'

const bytes = (s: string) => new TextEncoder().encode(s)

describe('relay frames', () => {
  test('each type round-trips, and the header is [type u8][len u32 BE]', () => {
    const out = encodeFrame({ type: FrameType.OUTPUT, data: bytes('hi') })
    expect([...out]).toEqual([0, 0, 0, 0, 2, 104, 105])
    const resize = encodeFrame({ type: FrameType.RESIZE, rows: 40, cols: 300 })
    expect([...resize]).toEqual([2, 0, 0, 0, 4, 0, 40, 1, 44])
    const meta = encodeFrame({ type: FrameType.METADATA, value: { name: 'x' } })
    const input = encodeFrame({ type: FrameType.INPUT, data: bytes('\x03') })
    const joined = new Uint8Array([...out, ...resize, ...meta, ...input])
    expect(decodeFrames(joined)).toEqual([
      { type: FrameType.OUTPUT, data: bytes('hi') },
      { type: FrameType.RESIZE, rows: 40, cols: 300 },
      { type: FrameType.METADATA, value: { name: 'x' } },
      { type: FrameType.INPUT, data: bytes('\x03') },
    ])
  })

  test('malformed messages are errors, never guesses', () => {
    const bad = [
      new Uint8Array([0, 0, 0]), // truncated header
      new Uint8Array([0, 0, 0, 0, 5, 1]), // runs past the message
      new Uint8Array([9, 0, 0, 0, 0]), // unknown type
      new Uint8Array([2, 0, 0, 0, 2, 0, 1]), // resize of 2 bytes
      new Uint8Array([3, 0, 0, 0, 1, 123]), // metadata not JSON
      new Uint8Array([3, 0, 0, 0, 1, 0xff]), // metadata not UTF-8
    ]
    for (const message of bad) expect(() => decodeFrames(message)).toThrow(FrameError)
    const huge = new Uint8Array(5)
    new DataView(huge.buffer).setUint32(1, MAX_FRAME_PAYLOAD + 1)
    expect(() => decodeFrames(huge)).toThrow('over the limit')
  })
})
