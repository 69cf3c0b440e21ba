// The HTTP edge alone turns an error's meaning into a status: core errors carry a code, no number.
import { expect, test } from 'bun:test'
import { AppError, Conflict, type ErrorCode, hasCode, NotFound, Unavailable } from '../../src/errors.ts'
import { statusOf, toJsonError } from '../../src/http/errors.ts'

test('every code has one status, picked at the edge', () => {
  const want: Record<ErrorCode, number> = {
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
  for (const [code, status] of Object.entries(want)) {
    expect(statusOf(new AppError(code as ErrorCode, 'x'))).toBe(status)
  }
})

test('a core error has no HTTP status of its own', () => {
  expect('status' in new NotFound('Instance not found')).toBe(false)
})

test('adapters branch on codes', () => {
  expect(hasCode(new NotFound('x'), 'FORBIDDEN', 'NOT_FOUND')).toBe(true)
  expect(hasCode(new Conflict('x'), 'FORBIDDEN', 'NOT_FOUND')).toBe(false)
  expect(hasCode(new Error('x'), 'NOT_FOUND')).toBe(false)
})

test('a wrapped library failure keeps its cause', () => {
  const cause = new Error('duplicate key value violates unique constraint')
  expect(new Conflict('A user with that email already exists', { cause }).cause).toBe(cause)
})

test('the wire format: body, status and headers', async () => {
  const res = toJsonError(new Unavailable('Server is restarting; poll again', 2), '/api/v1/messages/pending')
  expect(res.status).toBe(503)
  expect(res.headers.get('retry-after')).toBe('2')
  expect(await res.text()).toBe(
    '{"error":{"code":"UNAVAILABLE","message":"Server is restarting; poll again"},"detail":"Server is restarting; poll again"}',
  )
  const unauthorized = toJsonError(new AppError('UNAUTHORIZED', 'Invalid or missing API key'), '/mcp')
  expect(unauthorized.status).toBe(401)
  expect(unauthorized.headers.get('www-authenticate')).toBe('Bearer')
})
