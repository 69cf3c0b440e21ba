// Headers every response carries, so a browser treats Parley's pages as strictly as they deserve:
// a Content-Security-Policy that runs only our own script files (no inline script, no eval, no
// other origin), no framing (clickjacking), no MIME sniffing, no full URLs leaked as Referer.
// Set in onRequest (which runs for every request of the app, before routing) so they reach every
// answer: pages, fragments, errors, redirects and streams.
import { Elysia } from 'elysia'
import type { Config } from '../config.ts'

/**
 * `'self'` in connect-src also covers ws: and wss: on this host (CSP Level 3), so the dashboard's
 * own WebSockets (terminal view) and SSE streams connect while any other origin is refused.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // xterm.js draws the terminal with <style> elements it creates: inline style, never script.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'cross-origin-opener-policy': 'same-origin',
}

/**
 * True when the browser reached us over https: PUBLIC_URL says so, the request itself is https,
 * or a TLS-terminating proxy in front (Fly's) says so in X-Forwarded-Proto. The header is taken
 * from anyone: it can only make cookies stricter, never weaker.
 */
export function servedOverHttps(request: Request, config: Pick<Config, 'publicUrl'>): boolean {
  if (config.publicUrl?.startsWith('https:')) return true
  if (request.url.startsWith('https:')) return true
  const proto = request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase()
  return proto === 'https'
}

export const securityHeaders = (config: Pick<Config, 'publicUrl'>) =>
  new Elysia({ name: 'parley.security-headers' }).onRequest(({ request, set }) => {
    Object.assign(set.headers, SECURITY_HEADERS)
    if (servedOverHttps(request, config)) set.headers['strict-transport-security'] = 'max-age=31536000'
  })
