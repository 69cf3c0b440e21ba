// Errors that cross the wire. Each has a SCREAMING_SNAKE code and an honest HTTP status; one
// onError hook maps them to {error:{code,message,field?}}. Anything else is an internal failure.

export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export class InvalidInput extends AppError {
  constructor(field: string, message: string) {
    super('INVALID_INPUT', 422, message, field)
  }
}

export class BadRequest extends AppError {
  constructor(message: string, field?: string) {
    super('BAD_REQUEST', 400, message, field)
  }
}

export class Unauthorized extends AppError {
  constructor(message = 'Invalid or missing API key') {
    super('UNAUTHORIZED', 401, message)
  }
}

export class Forbidden extends AppError {
  constructor(message: string) {
    super('FORBIDDEN', 403, message)
  }
}

export class NotFound extends AppError {
  constructor(message: string) {
    super('NOT_FOUND', 404, message)
  }
}

export class Conflict extends AppError {
  constructor(message: string) {
    super('CONFLICT', 409, message)
  }
}

export class PayloadTooLarge extends AppError {
  constructor(limit: number) {
    super('PAYLOAD_TOO_LARGE', 413, `Request body is larger than ${limit} bytes`, 'body')
  }
}

/** The server is stopping or a dependency is down: the client should retry (elsewhere). */
export class Unavailable extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super('UNAVAILABLE', 503, message)
  }
}

export const errorBody = (e: AppError) => ({
  error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) },
})
