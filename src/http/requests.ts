// Every HTTP request, observed once: it gets a request id (the caller's X-Request-Id when it is a
// sane token, else a new one), returned as a header and carried by every log line written while
// it is served; when it is answered, one log line and the HTTP metrics record it by its route
// pattern (never the raw path: ids would make a metric per question, and query strings can hold
// secrets).
import { Elysia } from 'elysia'
import { enterRequest, log } from '../log.ts'
import { httpDuration, httpRequests } from '../metrics.ts'

export const REQUEST_ID_HEADER = 'x-request-id'
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/
/** Asked every few seconds by the platform: their lines would drown the others at info. */
const ROUTINE = new Set(['/healthz', '/readyz', '/health', '/metrics'])

/** The caller's request id when it is safe to echo and log, else a fresh one. */
export function requestIdOf(request: Request): string {
  const given = request.headers.get(REQUEST_ID_HEADER)
  return given && SANE_ID.test(given) ? given : crypto.randomUUID()
}

type Seen = { id: string; started: number }
const seen = new WeakMap<Request, Seen>()

/** The request id of a request being served (for responses built outside Elysia's `set`). */
export const requestId = (request: Request): string | undefined => seen.get(request)?.id

const statusOf = (set: { status?: unknown }, response: unknown): number => {
  if (response instanceof Response) return response.status
  return typeof set.status === 'number' ? set.status : 200
}

export const requestObservation = new Elysia({ name: 'parley.requests' })
  .onRequest(({ request, set }) => {
    const id = requestIdOf(request)
    seen.set(request, { id, started: performance.now() })
    set.headers[REQUEST_ID_HEADER] = id
    enterRequest(id)
  })
  .onAfterResponse({ as: 'global' }, ({ request, route, set, responseValue }) => {
    const s = seen.get(request)
    if (!s) return
    seen.delete(request)
    const seconds = (performance.now() - s.started) / 1000
    const status = statusOf(set, responseValue)
    // Unmatched paths share one label: a scanner must not create a series per path it tries.
    const pattern = route || 'unmatched'
    httpRequests.inc({ method: request.method, route: pattern, status: String(status) })
    httpDuration.observe({ method: request.method, route: pattern }, seconds)
    log[ROUTINE.has(pattern) ? 'debug' : 'info'](
      { reqId: s.id, method: request.method, route: pattern, status, ms: Math.round(seconds * 1000) },
      'request',
    )
  })
