// Slack request signatures, checked on the raw body before anything else looks at a request:
// `v0=` + HMAC-SHA256(signing secret, `v0:{timestamp}:{body}`), a timestamp within five minutes
// (so a captured request cannot be replayed later), compared in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const MAX_SKEW_SECONDS = 5 * 60

export type SignatureProblem = 'missing_headers' | 'stale_timestamp' | 'bad_signature'

export function checkSlackSignature(
  secret: string,
  headers: Headers,
  rawBody: string,
  nowMs = Date.now(),
): SignatureProblem | null {
  const signature = headers.get('x-slack-signature')
  const timestamp = headers.get('x-slack-request-timestamp')
  if (!signature || !timestamp) return 'missing_headers'
  if (!/^\d{1,12}$/.test(timestamp)) return 'stale_timestamp'
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) return 'stale_timestamp'
  const expected = Buffer.from(
    `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`,
  )
  const given = Buffer.from(signature)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad_signature'
  return null
}

export const SIGNATURE_MESSAGES: Record<SignatureProblem, string> = {
  missing_headers: 'X-Slack-Signature and X-Slack-Request-Timestamp are required',
  stale_timestamp: 'X-Slack-Request-Timestamp is more than 5 minutes away from now',
  bad_signature: 'X-Slack-Signature does not match the request body',
}
