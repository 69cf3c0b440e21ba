// A local push service, as browsers' push services behave towards an application server: each
// device has an endpoint on 127.0.0.1 and a P-256 key pair and auth secret like a browser's
// PushSubscription. A POST must carry a valid VAPID JWT (ES256, `aud` the endpoint's origin,
// unexpired, with a `sub`) and an aes128gcm body, which is decrypted here per RFC 8188 / RFC 8291
// with the device's private key. Deliveries are recorded; a device can be told to answer 410.
import { createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify } from 'jose'

export type Received = {
  device: string
  payload: Record<string, unknown>
  headers: Headers
  /** performance.now() when the request arrived. */
  at: number
}

type Device = { id: string; ecdh: ReturnType<typeof createECDH>; auth: Buffer; status: number }

const hkdf = (salt: Buffer, ikm: Buffer, info: Buffer, length: number) =>
  Buffer.from(hkdfSync('sha256', ikm, salt, info, length))

/** RFC 8291 section 3.4 and RFC 8188: the plaintext of one aes128gcm message for `device`. */
export function decryptAes128gcm(
  body: Buffer,
  device: { ecdh: ReturnType<typeof createECDH>; auth: Buffer },
) {
  const salt = body.subarray(0, 16)
  const recordSize = body.readUInt32BE(16)
  const idLength = body[20]!
  const senderPublic = body.subarray(21, 21 + idLength)
  const ciphertext = body.subarray(21 + idLength)
  if (idLength !== 65) throw new Error(`keyid must be the sender's 65-byte public key, got ${idLength}`)
  if (ciphertext.length > recordSize) throw new Error('more than one record')
  const receiverPublic = device.ecdh.getPublicKey()
  const ecdhSecret = device.ecdh.computeSecret(senderPublic)
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), receiverPublic, senderPublic])
  const ikm = hkdf(device.auth, ecdhSecret, keyInfo, 32)
  const cek = hkdf(salt, ikm, Buffer.from('Content-Encoding: aes128gcm\0'), 16)
  const nonce = hkdf(salt, ikm, Buffer.from('Content-Encoding: nonce\0'), 12)
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce)
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
  const padded = Buffer.concat([
    decipher.update(ciphertext.subarray(0, ciphertext.length - 16)),
    decipher.final(),
  ])
  // The last record ends with a 0x02 delimiter followed by zero padding.
  let end = padded.length - 1
  while (end >= 0 && padded[end] === 0) end--
  if (padded[end] !== 2) throw new Error('missing the last-record padding delimiter')
  return padded.subarray(0, end)
}

/** Authorization headers already verified, with their JWT's expiry (push services cache them too). */
const verified = new Map<string, number>()

/** Checks `Authorization: vapid t=<jwt>, k=<public key>`; returns why it is wrong, or null. */
async function vapidProblem(header: string | null, audience: string): Promise<string | null> {
  const until = verified.get(`${audience} ${header}`)
  if (until !== undefined && until > Date.now() / 1000) return null
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '')
  if (!m) return 'missing vapid authorization'
  const [, token, k] = m
  if (decodeProtectedHeader(token!).alg !== 'ES256') return 'VAPID JWT must be ES256'
  const key = await crypto.subtle.importKey(
    'raw',
    Buffer.from(k!, 'base64url'),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['verify'],
  )
  try {
    const { payload } = await jwtVerify(token!, key, { audience })
    if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub)) return 'bad sub'
    if (typeof payload.exp !== 'number') return 'no exp'
    if (payload.exp > Date.now() / 1000 + 24 * 3600) return 'exp more than 24 hours ahead'
    verified.set(`${audience} ${header}`, payload.exp)
  } catch (err) {
    return `bad VAPID JWT: ${(err as Error).message}`
  }
  return null
}

export class FakePushService {
  readonly received: Received[] = []
  readonly rejected: string[] = []
  private readonly devices = new Map<string, Device>()
  private waiters: (() => void)[] = []
  private readonly server: ReturnType<typeof Bun.serve>

  constructor() {
    this.server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: (req) => this.handle(req),
    })
  }

  get origin(): string {
    return `http://127.0.0.1:${this.server.port}`
  }

  /** A new device: the PushSubscription JSON its browser would hand over. */
  device(): { id: string; subscription: { endpoint: string; keys: { p256dh: string; auth: string } } } {
    const ecdh = createECDH('prime256v1')
    ecdh.generateKeys()
    const id = crypto.randomUUID()
    const device = { id, ecdh, auth: randomBytes(16), status: 201 }
    this.devices.set(id, device)
    return {
      id,
      subscription: {
        endpoint: `${this.origin}/send/${id}`,
        keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: device.auth.toString('base64url') },
      },
    }
  }

  /** What the service answers for this device from now on (410: unsubscribed). */
  answer(deviceId: string, status: number): void {
    this.devices.get(deviceId)!.status = status
  }

  /** Resolves once `count` pushes matching `where` were received. */
  async waitFor(
    count: number,
    where: (r: Received) => boolean = () => true,
    ms = 15_000,
  ): Promise<Received[]> {
    const end = Date.now() + ms
    for (;;) {
      const hits = this.received.filter(where)
      if (hits.length >= count) return hits
      if (Date.now() > end)
        throw new Error(
          `expected ${count} pushes, got ${hits.length} (rejected: ${this.rejected.join('; ')})`,
        )
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }

  private async handle(req: Request): Promise<Response> {
    const at = performance.now()
    const url = new URL(req.url)
    const device = this.devices.get(url.pathname.replace(/^\/send\//, ''))
    if (req.method !== 'POST' || !device) return new Response('no such subscription', { status: 404 })
    const problem = await vapidProblem(req.headers.get('authorization'), this.origin)
    const reject = (why: string, status: number) => {
      this.rejected.push(why)
      return new Response(why, { status })
    }
    if (problem) return reject(problem, 401)
    if (req.headers.get('content-encoding') !== 'aes128gcm')
      return reject('content-encoding must be aes128gcm', 415)
    if (!req.headers.get('ttl')) return reject('TTL header is required', 400)
    if (device.status !== 201) return new Response('gone', { status: device.status })
    let payload: Record<string, unknown>
    try {
      payload = JSON.parse(decryptAes128gcm(Buffer.from(await req.arrayBuffer()), device).toString('utf8'))
    } catch (err) {
      return reject(`cannot decrypt: ${(err as Error).message}`, 400)
    }
    this.received.push({ device: device.id, payload, headers: req.headers, at })
    for (const w of this.waiters.splice(0)) w()
    return new Response(null, { status: 201 })
  }

  stop(): Promise<void> {
    return this.server.stop(true)
  }
}
