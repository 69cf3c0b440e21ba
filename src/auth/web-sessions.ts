// Browser sessions: a random token lives in an HttpOnly cookie and only its sha256 is stored in
// web_sessions, so a leaked database cannot be replayed as a login. Logging out deletes the row,
// which ends the session on every machine at once (no cache to wait for).
import { and, desc, eq, gt, lt, ne, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { users, webSessions } from '../db/schema.ts'
import { sha256 } from './api-keys.ts'

export const SESSION_COOKIE = 'parley_session'
export const SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000

export type SessionUser = { id: string; email: string; displayName: string | null }
export type WebSession = { id: string; userId: string; expiresAt: Date; token: string }

export async function createWebSession(db: Db, userId: string, now = Date.now()): Promise<WebSession> {
  const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
  const expiresAt = new Date(now + SESSION_TTL_MS)
  const [row] = await db
    .insert(webSessions)
    .values({ userId, tokenHash: sha256(token), expiresAt })
    .returning({ id: webSessions.id })
  // Expired rows of this user are of no use to anyone: drop them while we are here.
  await db
    .delete(webSessions)
    .where(and(eq(webSessions.userId, userId), lt(webSessions.expiresAt, sql`now()`)))
  return { id: row!.id, userId, expiresAt, token }
}

/** The live session a cookie token belongs to, with its user; null when unknown, expired or revoked. */
export async function findWebSession(
  db: Db,
  token: string,
): Promise<{ session: WebSession; user: SessionUser } | null> {
  if (!token) return null
  const [row] = await db
    .select({
      id: webSessions.id,
      userId: webSessions.userId,
      expiresAt: webSessions.expiresAt,
      email: users.email,
      displayName: users.displayName,
    })
    .from(webSessions)
    .innerJoin(users, eq(users.id, webSessions.userId))
    .where(and(eq(webSessions.tokenHash, sha256(token)), gt(webSessions.expiresAt, sql`now()`)))
  if (!row) return null
  return {
    session: { id: row.id, userId: row.userId, expiresAt: row.expiresAt, token },
    user: { id: row.userId, email: row.email, displayName: row.displayName },
  }
}

/** Ends a session (only the owner's when `userId` is given); true when there was one. */
export async function revokeWebSession(db: Db, sessionId: string, userId?: string): Promise<boolean> {
  const rows = await db
    .delete(webSessions)
    .where(and(eq(webSessions.id, sessionId), userId ? eq(webSessions.userId, userId) : undefined))
    .returning({ id: webSessions.id })
  return rows.length > 0
}

/** Ends every session of the user except `keepId` (log out everywhere else). */
export async function revokeOtherWebSessions(db: Db, userId: string, keepId: string): Promise<void> {
  await db.delete(webSessions).where(and(eq(webSessions.userId, userId), ne(webSessions.id, keepId)))
}

/** The user's live sessions, newest first. */
export function listWebSessions(db: Db, userId: string) {
  return db
    .select({ id: webSessions.id, createdAt: webSessions.createdAt, expiresAt: webSessions.expiresAt })
    .from(webSessions)
    .where(and(eq(webSessions.userId, userId), gt(webSessions.expiresAt, sql`now()`)))
    .orderBy(desc(webSessions.createdAt))
}

/**
 * A Set-Cookie value for one of our cookies (cleared when `value` is null): always HttpOnly and
 * SameSite=Lax, Secure when served over https, a browser-session cookie unless `expiresAt` is given.
 */
export function cookieHeader(
  name: string,
  value: string | null,
  opts: { secure: boolean; expiresAt?: Date },
): string {
  const parts = [`${name}=${value ?? ''}`, 'Path=/', 'HttpOnly', 'SameSite=Lax']
  if (opts.secure) parts.push('Secure')
  if (value === null) parts.push('Max-Age=0')
  else if (opts.expiresAt) parts.push(`Expires=${opts.expiresAt.toUTCString()}`)
  return parts.join('; ')
}

/** The Set-Cookie value that stores a session token (or clears it when `token` is null). */
export function sessionCookie(token: string | null, opts: { secure: boolean; expiresAt?: Date }): string {
  return cookieHeader(SESSION_COOKIE, token, opts)
}

/** One cookie's value from a Cookie header. */
export function readCookie(header: string | null | undefined, name: string): string | null {
  if (!header) return null
  for (const part of header.split(';')) {
    const eqAt = part.indexOf('=')
    if (eqAt > 0 && part.slice(0, eqAt).trim() === name) return part.slice(eqAt + 1).trim() || null
  }
  return null
}
