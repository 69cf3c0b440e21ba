// Errors that cross the wire. Each says what went wrong with a SCREAMING_SNAKE code (and the field
// it is about); none knows HTTP. The HTTP edge (src/http/errors.ts) alone picks the status and
// renders {error:{code,message,field?}}; chat adapters branch on the code. Anything else is an
// internal failure. A wrapped library failure keeps its `cause`.

/** What went wrong, as the wire names it. */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL'

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** True when `err` is an AppError with one of `codes`: how adapters branch on meaning. */
export const hasCode = (err: unknown, ...codes: ErrorCode[]): err is AppError =>
  err instanceof AppError && codes.includes(err.code)

export class InvalidInput extends AppError {
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('INVALID_INPUT', message, field, options)
  }
}

export class BadRequest extends AppError {
  constructor(message: string, field?: string) {
    super('BAD_REQUEST', message, field)
  }
}

export class Unauthorized extends AppError {
  constructor(message = 'Invalid or missing API key') {
    super('UNAUTHORIZED', message)
  }
}

export class Forbidden extends AppError {
  constructor(message: string) {
    super('FORBIDDEN', message)
  }
}

export class NotFound extends AppError {
  constructor(message: string) {
    super('NOT_FOUND', message)
  }
}

export class Conflict extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFLICT', message, undefined, options)
  }
}

export class PayloadTooLarge extends AppError {
  constructor(limit: number) {
    super('PAYLOAD_TOO_LARGE', `Request body is larger than ${limit} bytes`, 'body')
  }
}

/** Too many failed tries from one client: it may try again after `retryAfterSeconds`. */
export class RateLimited extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('RATE_LIMITED', message)
  }
}

/** The server is stopping or a dependency is down: the client should retry (elsewhere). */
export class Unavailable extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super('UNAVAILABLE', message)
  }
}

export const errorBody = (e: AppError) => ({
  error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) },
})
