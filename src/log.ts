// The one logger of the process: structured JSON lines through pino. Every line written while a
// request is being served carries its request id (kept in AsyncLocalStorage, so code deep in core
// logs without passing anything along). Secrets never reach the output: fields by name are
// redacted, and every line is scrubbed of the configured secret values and of anything shaped
// like a Parley key, a Telegram bot token or a Slack token (an error can quote a URL with a token).
//
// Embedded uses (tests, the bench) log warnings and errors only; `parley serve` sets LOG_LEVEL.
import { AsyncLocalStorage } from 'node:async_hooks'
import pino from 'pino'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

/** Field paths whose values are replaced, wherever a logged object carries them. */
export const REDACT_PATHS = [
  'password',
  'token',
  'secret',
  'key',
  'apiKey',
  'authorization',
  'cookie',
  'auth',
  'p256dh',
  'botToken',
  'signingSecret',
  'appToken',
  'webhookSecret',
  'metricsToken',
  'csrf',
  '*.password',
  '*.token',
  '*.secret',
  '*.key',
  '*.apiKey',
  '*.authorization',
  '*.cookie',
  '*.auth',
  '*.p256dh',
  '*.botToken',
  '*.signingSecret',
  '*.appToken',
  '*.webhookSecret',
  '*.metricsToken',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  '*.headers["x-telegram-bot-api-secret-token"]',
  '*.keys.auth',
  '*.keys.p256dh',
]

const CENSOR = '[redacted]'

/** Shapes of secrets that can hide inside free text (messages, URLs in errors). */
const SECRET_SHAPES = [
  /prl_[A-Za-z0-9_-]{16,}/g, // Parley API keys
  /\d{5,}:[A-Za-z0-9_-]{20,}/g, // Telegram bot tokens
  /xox[abprs]-[A-Za-z0-9-]{8,}/g, // Slack tokens
  /xapp-[A-Za-z0-9-]{8,}/g, // Slack app-level tokens
]

const requests = new AsyncLocalStorage<{ reqId: string }>()
let secrets: string[] = []
let destination: { write(line: string): unknown } = pino.destination({ dest: 1, sync: true })

function scrub(line: string): string {
  let out = line
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(CENSOR)
  for (const shape of SECRET_SHAPES) out = out.replace(shape, CENSOR)
  return out
}

export const log = pino(
  {
    level: 'warn',
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    mixin: () => {
      const store = requests.getStore()
      return store ? { reqId: store.reqId } : {}
    },
    hooks: { streamWrite: scrub },
  },
  { write: (line: string) => destination.write(line) },
)

export type Logger = typeof log

/**
 * Sets the level, the secret values to scrub from every line (config secrets: short or empty ones
 * are ignored) and, for tests, where lines go. Called once by the process entry.
 */
export function configureLog(opts: {
  level?: LogLevel
  secrets?: (string | null | undefined)[]
  destination?: { write(line: string): unknown }
}): void {
  if (opts.level) log.level = opts.level
  if (opts.secrets) secrets = opts.secrets.filter((s): s is string => typeof s === 'string' && s.length >= 8)
  if (opts.destination) destination = opts.destination
}

/** Back to the defaults (tests that captured the log). */
export function resetLog(): void {
  log.level = 'warn'
  secrets = []
  destination = pino.destination({ dest: 1, sync: true })
}

/** From here on, in this async context, every line carries `reqId`. */
export function enterRequest(reqId: string): void {
  requests.enterWith({ reqId })
}

/** A logging function for modules that take `(message, err?)`, e.g. the outbox and the bots. */
export const logError =
  (scope: string) =>
  (message: string, err?: unknown): void =>
    err === undefined ? log.error(`${scope}: ${message}`) : log.error({ err }, `${scope}: ${message}`)
