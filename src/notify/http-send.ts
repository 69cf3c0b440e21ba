// One outgoing HTTP request of a channel that calls URLs it was given (webhooks, web push): only
// addresses the policy permits (ssrf.ts), no redirects followed (a public URL could redirect into
// the private network), a timeout, and the answer sorted for the outbox.
import type { SendResult } from './channel.ts'
import type { WebhookPolicy } from './ssrf.ts'

/** How long an outgoing call may take before it is abandoned (and retried later), by default. */
export const TIMEOUT_MS = 10_000

/** Seconds or an HTTP date, as Retry-After allows. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined
  const secs = Number(header)
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000)
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/**
 * Sends the request to `url` if the policy permits its address. Plain HTTP connects to the address
 * that was checked, so a second DNS answer cannot differ; HTTPS keeps the name, and its
 * certificate check stops a rebinding to an internal host. The response body is read and dropped.
 */
export async function guardedFetch(
  policy: WebhookPolicy,
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: BodyInit; timeoutMs?: number },
): Promise<{ ok: true; res: Response } | { ok: false; retry: boolean; error: string }> {
  const resolved = await policy.resolve(url)
  if (!resolved.ok) return { ok: false, retry: resolved.retry, error: resolved.reason }
  const target = new URL(url)
  const headers = { ...init.headers }
  if (url.protocol === 'http:') {
    target.hostname = resolved.address.includes(':') ? `[${resolved.address}]` : resolved.address
    headers.host = url.host
  }
  try {
    const res = await fetch(target, {
      method: init.method,
      body: init.body,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(init.timeoutMs ?? TIMEOUT_MS),
    })
    await res.arrayBuffer().catch(() => {})
    return { ok: true, res }
  } catch (err) {
    return { ok: false, retry: true, error: `request to ${url.host} failed: ${(err as Error).message}` }
  }
}

/** A non-2xx answer for the outbox: 429 waits as told, 408 and 5xx retry, anything else stops. */
export function failureOf(res: Response, error: string): SendResult {
  if (res.status === 429)
    return { ok: false, retry: true, error, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) }
  if (res.status >= 500 || res.status === 408) return { ok: false, retry: true, error }
  return { ok: false, retry: false, error }
}
