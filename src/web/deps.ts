// What the dashboard routes need from the app, passed in by createApp.
import type { KeyVerifier } from '../auth/api-keys.ts'
import type { LoginThrottle } from '../auth/login-throttle.ts'
import type { Config } from '../config.ts'
import type { Core } from '../core/context.ts'
import { servedOverHttps } from '../http/security-headers.ts'
import type { PushDeps } from './push.ts'

export type WebDeps = {
  config: Config
  core: Core
  keys: KeyVerifier
  /** The Telegram bot's username (from getMe), for t.me deep links; no links without it. */
  telegramBotUsername?: string
  /** Failed-login counter; one per app unless a test passes its own. */
  loginThrottle?: LoginThrottle
  /** Aborted when the process stops: live dashboard streams close. */
  stopping?: AbortSignal
  /** Web push: the VAPID public key and the answer links' signer. */
  push?: PushDeps
}

/** Cookies are Secure when the dashboard is served over https (PUBLIC_URL, or the proxy says so). */
export const secureCookies = (config: Config, request: Request) => servedOverHttps(request, config)
