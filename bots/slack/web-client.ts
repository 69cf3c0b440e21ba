// The Slack Web API client as Parley configures it: pointed at SLACK_API_URL when set, and with
// the library's own retries off, because the outbox owns retrying (and must see Retry-After).
// Also turns a failed call into the outbox's SendResult: retry, wait, or stop for good.
import { LogLevel, webApi } from '@slack/bolt'
import type { Config } from '../../src/config.ts'
import type { SendResult } from '../../src/notify/channel.ts'
import { slackLogger } from './logger.ts'

export function webClientOptions(config: Config): webApi.WebClientOptions {
  const url = config.slack.apiUrl
  return {
    ...(url ? { slackApiUrl: url.endsWith('/') ? url : `${url}/` } : {}),
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: 10_000,
    logLevel: LogLevel.ERROR,
    logger: slackLogger(),
  }
}

/** The link itself is dead (user gone, DM impossible, token revoked): stop and tell the owner. */
const LINK_ERRORS = new Set([
  'channel_not_found',
  'account_inactive',
  'invalid_auth',
  'not_authed',
  'token_revoked',
  'token_expired',
  'user_not_found',
  'user_disabled',
  'cannot_dm_bot',
  'is_archived',
  'not_in_channel',
  'missing_scope',
  'team_access_not_granted',
])
/** Slack's side had a bad moment: worth another try. */
const TRANSIENT_ERRORS = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
])

export function sendFailure(err: unknown): Extract<SendResult, { ok: false }> {
  if (err instanceof webApi.WebAPIRateLimitedError) {
    return { ok: false, retry: true, error: 'ratelimited', retryAfterMs: Math.max(1, err.retryAfter) * 1000 }
  }
  if (err instanceof webApi.WebAPIPlatformError) {
    const code = err.data.error
    if (LINK_ERRORS.has(code)) return { ok: false, retry: false, error: code, deactivateLink: true }
    if (TRANSIENT_ERRORS.has(code)) return { ok: false, retry: true, error: code }
    return { ok: false, retry: false, error: code }
  }
  if (err instanceof webApi.WebAPIHTTPError) {
    return {
      ok: false,
      retry: err.statusCode >= 500 || err.statusCode === 408,
      error: `HTTP ${err.statusCode}`,
    }
  }
  return { ok: false, retry: true, error: err instanceof Error ? err.message : String(err) }
}

export const platformError = (err: unknown): string | null =>
  err instanceof webApi.WebAPIPlatformError ? err.data.error : null
