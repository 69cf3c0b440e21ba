// One place that turns every failure into {error:{code,message,field?}} with an honest status
// (the one map from an error's code to HTTP lives here), that enforces the 1 MiB body limit before
// anything is parsed, and that refuses unstorable text in any input (src/core/storable.ts). Under
// /api/v1 the body also carries Omnara's `detail` string, which its SDK and n8n node show to people.
import { Elysia } from 'elysia'
import { isDatabaseUnavailable } from '../core/context.ts'
import { checkStorable } from '../core/storable.ts'
import {
  AppError,
  type ErrorCode,
  errorBody,
  InvalidInput,
  PayloadTooLarge,
  RateLimited,
  Unavailable,
} from '../errors.ts'
import { log } from '../log.ts'

export const MAX_BODY_BYTES = 1024 * 1024

const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INVALID_INPUT: 422,
  INTERNAL: 500,
  UNAVAILABLE: 503,
}

/** The HTTP status of an error, by its code: the only place that maps meaning to a number. */
export const statusOf = (err: AppError): number => STATUS[err.code]

/** An error as a JSON response with its status, for routes that answer outside onError. */
export const errorResponse = (err: AppError): Response =>
  Response.json(errorBody(err), { status: statusOf(err) })

type ValidationLike = {
  type?: string
  all?: { path?: string; summary?: string; message?: string }[]
  valueError?: { path?: string; message?: string }
}

/** The first failing field of an Elysia validation error, as a named InvalidInput. */
function fromValidation(err: ValidationLike): InvalidInput {
  const first = err.all?.[0] ?? err.valueError
  const path = (first?.path ?? '').replace(/^\//, '').replace(/\//g, '.')
  const field = path || (err.type === 'query' ? 'query' : 'body')
  const summary = first && 'summary' in first ? String(first.summary ?? '') : ''
  const why: string = summary || first?.message || 'is invalid'
  const missing = first && 'value' in first && (first as { value?: unknown }).value === undefined
  const problem =
    missing || /required/i.test(why)
      ? 'is required'
      : why.replace(/^Expected/, 'must be').replace(/^Property '[^']+' /, '')
  return new InvalidInput(field, `${field}: ${problem}`)
}

export function toJsonError(err: AppError, path: string): Response {
  const body: Record<string, unknown> = errorBody(err)
  if (path.startsWith('/api/')) body.detail = err.message
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (err.code === 'UNAUTHORIZED') headers['www-authenticate'] = 'Bearer'
  if (err instanceof Unavailable || err instanceof RateLimited)
    headers['retry-after'] = String(err.retryAfterSeconds)
  return new Response(JSON.stringify(body), { status: statusOf(err), headers })
}

/** The innermost cause's message (drizzle wraps the driver's error in one that lists the query). */
function rootMessage(err: unknown): string {
  let e = err as { message?: unknown; cause?: unknown }
  // A bounded walk: a cause chain may loop.
  for (let depth = 0; depth < 10 && e.cause && typeof e.cause === 'object'; depth++) e = e.cause as typeof e
  return String(e.message ?? e)
}

/** The response for whatever a request threw; logs what no code path expected. */
function failureResponse(code: unknown, error: unknown, request: Request, route: string): Response {
  const path = new URL(request.url).pathname
  if (error instanceof AppError) return toJsonError(error, path)
  if (code === 'VALIDATION') return toJsonError(fromValidation(error as ValidationLike), path)
  // Elysia wraps what onParse throws (too large, malformed JSON) in its own parse error.
  const cause = (error as { cause?: unknown }).cause
  if (code === 'PARSE' && cause instanceof AppError) return toJsonError(cause, path)
  if (code === 'PARSE') return toJsonError(new InvalidInput('body', 'body: malformed request body'), path)
  if (code === 'NOT_FOUND') return toJsonError(new AppError('NOT_FOUND', 'Not Found'), path)
  if (code === 'INVALID_COOKIE_SIGNATURE') return toJsonError(new AppError('BAD_REQUEST', 'Bad cookie'), path)
  if (isDatabaseUnavailable(error)) {
    // A connection killed or the database restarting: the client retries; no stack to log.
    log.warn({ method: request.method, route, cause: rootMessage(error) }, 'database unavailable')
    return toJsonError(new Unavailable('The database is unavailable for a moment; try again'), path)
  }
  log.error({ err: error, method: request.method, route }, 'unhandled error')
  return toJsonError(new AppError('INTERNAL', 'Internal server error'), path)
}

/**
 * A JSON body within the size limit ({} when empty), for the shared parser and for routes mounted
 * ahead of it (bots/telegram/webhook-route.ts); throws PayloadTooLarge or InvalidInput.
 */
export async function readJsonBody(request: Request): Promise<unknown> {
  if (Number(request.headers.get('content-length') ?? 0) > MAX_BODY_BYTES)
    throw new PayloadTooLarge(MAX_BODY_BYTES)
  // Read the text ourselves: chunked bodies have no content-length to check up front.
  const text = await request.text()
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new PayloadTooLarge(MAX_BODY_BYTES)
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new InvalidInput('body', 'body: malformed JSON', { cause: err })
  }
}

export const httpErrors = new Elysia({ name: 'parley.http-errors' })
  .onRequest(({ request }) => {
    const length = Number(request.headers.get('content-length') ?? 0)
    if (length > MAX_BODY_BYTES) {
      return toJsonError(new PayloadTooLarge(MAX_BODY_BYTES), new URL(request.url).pathname)
    }
  })
  .onParse({ as: 'global' }, async ({ request, contentType }) => {
    if (!contentType?.startsWith('application/json')) return
    return readJsonBody(request)
  })
  // Every body, query and path parameter, before the route's schema sees it: text the database
  // cannot store and JSON nested too deep are refused here, once for REST, MCP, hooks and forms.
  .onTransform({ as: 'global' }, ({ body, query, params }) => {
    // A path segment that does not percent-decode to UTF-8 (`%ED%A0%80`) arrives as null.
    for (const [name, value] of Object.entries(params ?? {}))
      if (typeof value !== 'string')
        throw new InvalidInput(name, `${name}: is not valid percent-encoded UTF-8`)
    checkStorable(params)
    checkStorable(query)
    checkStorable(body)
  })
  // The status is recorded on `set` too, for the request log and metrics (src/http/requests.ts).
  .onError({ as: 'global' }, ({ code, error, request, route, set }) => {
    const response = failureResponse(code, error, request, route)
    set.status = response.status
    return response
  })
