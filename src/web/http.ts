// Small HTTP answers shared by the dashboard routes: redirects after a form post (303, so the
// browser follows with GET and a reload never re-posts), HTML with an honest status, the
// check that keeps `next` redirects on this site, and own-key lookups of request values.
import type { Children } from '@kitajs/html'

export function seeOther(location: string, headers: HeadersInit = {}): Response {
  const all = new Headers(headers)
  all.set('location', location)
  return new Response(null, { status: 303, headers: all })
}

export async function htmlResponse(
  body: Children,
  status = 200,
  headers: Record<string, string> = {},
): Promise<Response> {
  const text = await (body as Promise<string> | string)
  const html =
    typeof text === 'string' && text.startsWith('<html') ? `<!doctype html>${text}` : String(text ?? '')
  return new Response(html, {
    status,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}

/**
 * `table[key]` for a key from the request, own keys only: `?done=constructor` or `/assets/valueOf`
 * must not find what every object inherits from Object.prototype.
 */
export const lookup = <T>(table: Record<string, T>, key: string): T | undefined =>
  Object.hasOwn(table, key) ? table[key] : undefined

export const isHtmx = (request: Request) => request.headers.get('hx-request') === 'true'

/**
 * The visitor's address, for throttling. Behind Fly's proxy every connection comes from the proxy,
 * so there the address is the one Fly puts in Fly-Client-IP (Fly overwrites it: clients cannot
 * forge it); anywhere else that header is ignored, since any client could send it.
 */
export function clientAddress(
  request: Request,
  socketAddress: string | undefined,
  config: { behindFlyProxy: boolean },
): string {
  const forwarded = config.behindFlyProxy ? request.headers.get('fly-client-ip')?.trim() : undefined
  return forwarded || socketAddress || 'unknown'
}

/** A path on this site to go back to after logging in; anything else (other hosts, `//x`, `/\x`) is `/`. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next === '' || next.length > 2000) return '/'
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/'
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
  if (/[\u0000-\u001f\u007f]/.test(next)) return '/'
  try {
    const url = new URL(next, 'http://parley.invalid')
    if (url.host !== 'parley.invalid') return '/'
    // Going "back" to an account page after logging in would loop.
    if (/^\/(login|signup|logout)(\/|$)/.test(url.pathname)) return '/'
    return url.pathname + url.search
  } catch {
    return '/'
  }
}

/** A form field as a trimmed string ('' when missing or not text). */
export function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | null | undefined)?.[name]
  return typeof value === 'string' ? value.trim() : ''
}

/**
 * True when a form post comes from another site. Guards the forms that exist before a session
 * (log-in, sign-up), where there is no CSRF token yet: a page elsewhere must not log a visitor
 * into an account of the attacker's choosing.
 */
export function crossSite(request: Request, publicUrl: string | null): boolean {
  const fetchSite = request.headers.get('sec-fetch-site')
  if (fetchSite === 'cross-site') return true
  const origin = request.headers.get('origin')
  if (!origin || origin === 'null') return origin === 'null'
  let host: string
  try {
    host = new URL(origin).host
  } catch {
    return true
  }
  const own = [
    new URL(request.url).host,
    request.headers.get('host'),
    publicUrl ? new URL(publicUrl).host : null,
  ]
  return !own.includes(host)
}
