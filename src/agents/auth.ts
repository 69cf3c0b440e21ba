// Bearer API-key authentication for the agent API (REST, MCP, hooks). The scheme is matched
// case-insensitively and the token is everything after the first space, as Omnara's clients expect.
// Bad keys are counted per client address (see clientAddress: Fly-Client-IP only behind Fly's
// proxy); past BAD_KEYS_PER_ADDRESS that address is answered 429 with Retry-After, unchecked.
import { Elysia } from 'elysia'
import { BAD_KEYS_PER_ADDRESS, type KeyPrincipal, type KeyVerifier } from '../auth/api-keys.ts'
import type { Config } from '../config.ts'
import { RateLimited, Unauthorized } from '../errors.ts'
import { clientAddress } from '../web/http.ts'

export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null
  const space = header.indexOf(' ')
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') return null
  const token = header.slice(space + 1).trim()
  return token || null
}

/** The key's owner; 401 for a missing or bad key, 429 while `address` is locked for guessing. */
export async function authenticate(
  keys: KeyVerifier,
  header: string | null | undefined,
  address?: string,
): Promise<KeyPrincipal> {
  const token = bearerToken(header)
  if (!token) throw new Unauthorized('Not authenticated')
  const key = address === undefined ? null : `address:${address}`
  const wait = key ? keys.badKeys.retryAfterMs(key) : 0
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000)
    throw new RateLimited(`Too many invalid API keys from this address; retry in ${seconds} s`, seconds)
  }
  const principal = await keys.verify(token)
  if (!principal) {
    if (key) keys.badKeys.recordFailure(key, BAD_KEYS_PER_ADDRESS)
    throw new Unauthorized('Invalid, expired or revoked API key')
  }
  return principal
}

type Server = { requestIP(request: Request): { address: string } | null } | null

/**
 * The address to count a request's bad keys against; undefined when there is none to count
 * (a request handed to the app without a socket, as tests do), and then nothing is throttled.
 */
export function requestAddress(
  request: Request,
  server: Server | undefined,
  config: Pick<Config, 'behindFlyProxy'> | undefined,
): string | undefined {
  const socket = server?.requestIP(request)?.address
  const address = clientAddress(request, socket, config ?? { behindFlyProxy: false })
  return address === 'unknown' ? undefined : address
}

/** Adds `principal` to every route of the plugin it is used in; 401 otherwise (429 when guessing). */
export const agentAuth = (keys: KeyVerifier, config?: Pick<Config, 'behindFlyProxy'>) =>
  new Elysia({ name: 'parley.agent-auth' }).resolve(
    { as: 'scoped' },
    async ({ headers, request, server }) => ({
      principal: await authenticate(keys, headers.authorization, requestAddress(request, server, config)),
    }),
  )
