// Bolt's and the Slack Web API client's own log lines, written by Parley's logger (src/log.ts) so
// they are JSON like every other line, carry the request id, and pass through its redaction.
import type { Logger, LogLevel } from '@slack/bolt'
import { log } from '../../src/log.ts'

const text = (parts: unknown[]) =>
  parts.map((p) => (typeof p === 'string' ? p : p instanceof Error ? p.message : JSON.stringify(p))).join(' ')

/** A Slack `Logger`; the level that counts is LOG_LEVEL (Bolt's own setting only filters more). */
export function slackLogger(): Logger {
  const out = log.child({ lib: 'slack' })
  let level = 'error' as LogLevel
  return {
    debug: (...m: unknown[]) => out.debug(text(m)),
    info: (...m: unknown[]) => out.info(text(m)),
    warn: (...m: unknown[]) => out.warn(text(m)),
    error: (...m: unknown[]) => out.error(text(m)),
    setLevel: (l: LogLevel) => {
      level = l
    },
    getLevel: () => level,
    setName: () => {},
  }
}
