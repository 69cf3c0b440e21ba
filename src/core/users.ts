// People: created from the CLI or the sign-up page; looked up by email for admin commands.
import { eq, sql } from 'drizzle-orm'
import { hashPassword, MIN_PASSWORD_LENGTH } from '../auth/passwords.ts'
import type { Db } from '../db/client.ts'
import { users } from '../db/schema.ts'
import { Conflict, InvalidInput, NotFound } from '../errors.ts'
import { pgErrorCode } from './context.ts'

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export const normalizeEmail = (email: string) => email.trim().toLowerCase()

export async function createUser(
  db: Db,
  input: { email: string; password: string; displayName?: string | null },
  /** How the password is hashed: always hashPassword, except where tests reuse one hash per password. */
  hash: (password: string) => Promise<string> = hashPassword,
): Promise<{ id: string; email: string }> {
  const email = normalizeEmail(input.email)
  if (!EMAIL.test(email)) throw new InvalidInput('email', 'email must be an email address')
  if (input.password.length < MIN_PASSWORD_LENGTH)
    throw new InvalidInput('password', `password must be at least ${MIN_PASSWORD_LENGTH} characters`)
  const passwordHash = await hash(input.password)
  try {
    const [row] = await db
      .insert(users)
      .values({ email, passwordHash, displayName: input.displayName ?? null })
      .returning({ id: users.id, email: users.email })
    return row!
  } catch (err) {
    if (pgErrorCode(err) === '23505')
      throw new Conflict(`A user with email ${email} already exists`, { cause: err })
    throw err
  }
}

export async function userByEmail(db: Db, email: string) {
  const [row] = await db
    .select()
    .from(users)
    .where(eq(users.email, normalizeEmail(email)))
  if (!row) throw new NotFound(`No user with email ${normalizeEmail(email)}`)
  return row
}

export async function countUsers(db: Db): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(users)
  return row?.n ?? 0
}
