// The answer link a push notification carries: POST it with {"action"} to answer the question as
// the subscription's user, without a cookie. A JWT (HS256, jose) naming the subscription, the
// question and the actions the notification offered, signed with a key derived from the server's signing secret, expiring with the question
// (or after MAX_LIFETIME_S when it has no timeout). Using it answers the question, so a second use,
// or a use after an answer on any other channel, is refused by the answer path itself.
import { errors, jwtVerify, SignJWT } from 'jose'

const ALG = 'HS256'
const AUDIENCE = 'parley-push-answer'
/** A question without a timeout stays answerable from a notification for a week. */
export const MAX_LIFETIME_S = 7 * 24 * 3600

/** The subscription, the question, and the actions its notification offered (option indexes). */
export type AnswerClaims = { subscriptionId: string; questionId: string; actions: string[] }

const keyOf = (secret: string) =>
  new Uint8Array(new Bun.CryptoHasher('sha256').update(`parley-push-answer:${secret}`).digest())

export class AnswerLinks {
  private readonly key: Uint8Array

  constructor(secret: string) {
    this.key = keyOf(secret)
  }

  /** A token for the question's link; `expiresAt` is the question's timeout, if it has one. */
  sign(claims: AnswerClaims, expiresAt?: string | null): Promise<string> {
    const max = Math.floor(Date.now() / 1000) + MAX_LIFETIME_S
    const at = expiresAt ? Math.floor(new Date(expiresAt).getTime() / 1000) : max
    return new SignJWT({ q: claims.questionId, a: claims.actions })
      .setProtectedHeader({ alg: ALG })
      .setSubject(claims.subscriptionId)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.min(at, max))
      .sign(this.key)
  }

  /** The claims of a valid, unexpired token; null for anything else (forged, expired, malformed). */
  async verify(token: string): Promise<AnswerClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: [ALG], audience: AUDIENCE })
      const { sub, q, a } = payload
      if (typeof sub !== 'string' || typeof q !== 'string') return null
      if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) return null
      return { subscriptionId: sub, questionId: q, actions: a as string[] }
    } catch (err) {
      if (err instanceof errors.JOSEError) return null
      throw err
    }
  }
}
