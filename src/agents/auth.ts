// Bearer API-key authentication for the agent API (REST and MCP). The scheme is matched
// case-insensitively and the token is everything after the first space, as Omnara's clients expect.
import { Elysia } from 'elysia'
import type { KeyPrincipal, KeyVerifier } from '../auth/api-keys.ts'
import { Unauthorized } from '../errors.ts'

export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null
  const space = header.indexOf(' ')
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') return null
  const token = header.slice(space + 1).trim()
  return token || null
}

export async function authenticate(
  keys: KeyVerifier,
  header: string | null | undefined,
): Promise<KeyPrincipal> {
  const token = bearerToken(header)
  if (!token) throw new Unauthorized('Not authenticated')
  const principal = await keys.verify(token)
  if (!principal) throw new Unauthorized('Invalid, expired or revoked API key')
  return principal
}

/** Adds `principal` to every route of the plugin it is used in; 401 otherwise. */
export const agentAuth = (keys: KeyVerifier) =>
  new Elysia({ name: 'parley.agent-auth' }).resolve({ as: 'scoped' }, async ({ headers }) => ({
    principal: await authenticate(keys, headers.authorization),
  }))
