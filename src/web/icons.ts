// Parley's icon, drawn in code: a white speech bubble on the accent blue. SVG for the favicon,
// PNG (encoded here with zlib, no image library) at the sizes phones ask for, plain and maskable
// (full-bleed background, the bubble inside the 80 % safe circle). Rendered once per size.
import { deflateSync } from 'node:zlib'

/** The accent colour of parley.css, the manifest's theme colour. */
export const THEME_COLOR = '#1f5fbf'
const BG = [0x1f, 0x5f, 0xbf] as const

export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
<rect width="64" height="64" rx="14" fill="${THEME_COLOR}"/>
<path d="M14 18a6 6 0 0 1 6-6h24a6 6 0 0 1 6 6v18a6 6 0 0 1-6 6H28l-9 9v-9h1a6 6 0 0 1-6-6z" fill="#fff"/>
<circle cx="24" cy="27" r="3" fill="${THEME_COLOR}"/><circle cx="32" cy="27" r="3" fill="${THEME_COLOR}"/>
<circle cx="40" cy="27" r="3" fill="${THEME_COLOR}"/></svg>`

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'ascii')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0)
  return Buffer.concat([head, data, crc])
}

/** An RGBA image as a PNG file. */
function encodePng(size: number, rgba: Uint8Array): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header[8] = 8 // bit depth
  header[9] = 6 // RGBA
  const rows = Buffer.alloc(size * (size * 4 + 1))
  for (let y = 0; y < size; y++) {
    rows[y * (size * 4 + 1)] = 0 // no filter
    rows.set(rgba.subarray(y * size * 4, (y + 1) * size * 4), y * (size * 4 + 1) + 1)
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', new Uint8Array()),
  ])
}

/** Whether (x, y), in units of a 64-wide canvas, lies inside a rounded rectangle. */
function inRoundedRect(x: number, y: number, r: { x: number; y: number; w: number; h: number; rad: number }) {
  if (x < r.x || y < r.y || x > r.x + r.w || y > r.y + r.h) return false
  const cx = Math.min(Math.max(x, r.x + r.rad), r.x + r.w - r.rad)
  const cy = Math.min(Math.max(y, r.y + r.rad), r.y + r.h - r.rad)
  return (x - cx) ** 2 + (y - cy) ** 2 <= r.rad ** 2
}

/** The colour of one point of the icon (64-unit canvas), as the SVG above draws it. */
function pixel(x: number, y: number, maskable: boolean): [number, number, number, number] {
  const bg: [number, number, number, number] = [...BG, 255]
  if (!maskable && !inRoundedRect(x, y, { x: 0, y: 0, w: 64, h: 64, rad: 14 })) return [0, 0, 0, 0]
  // Maskable icons keep the drawing inside the central 80 %: shrink it around the centre.
  const [u, v] = maskable ? [32 + (x - 32) / 0.75, 32 + (y - 32) / 0.75] : [x, y]
  const dot = [24, 32, 40].some((cx) => (u - cx) ** 2 + (v - 27) ** 2 <= 9)
  const bubble =
    inRoundedRect(u, v, { x: 14, y: 12, w: 36, h: 30, rad: 6 }) ||
    // The tail: a triangle from (19,42) to (28,42) down to (19,51).
    (u >= 19 && v >= 42 && v <= 51 && u <= 28 - (v - 42))
  return bubble && !dot ? [255, 255, 255, 255] : bg
}

const rendered = new Map<string, Buffer>()

/** The icon as a PNG of `size` pixels (2x2 samples per pixel for smooth edges). */
export function iconPng(size: number, maskable = false): Buffer {
  const key = `${size}:${maskable}`
  const cached = rendered.get(key)
  if (cached) return cached
  const rgba = new Uint8Array(size * size * 4)
  const unit = 64 / size
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sum = [0, 0, 0, 0]
      for (const [dx, dy] of [
        [0.25, 0.25],
        [0.75, 0.25],
        [0.25, 0.75],
        [0.75, 0.75],
      ]) {
        const p = pixel((x + dx!) * unit, (y + dy!) * unit, maskable)
        for (let i = 0; i < 4; i++) sum[i]! += p[i]! / 4
      }
      rgba.set(
        sum.map((v) => Math.round(v)),
        (y * size + x) * 4,
      )
    }
  }
  const png = encodePng(size, rgba)
  rendered.set(key, png)
  return png
}
