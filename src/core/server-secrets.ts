// Secrets the server makes for itself when the operator gives none (the signing secret, the VAPID
// key pair): made once, kept in the `settings` table, and the same for every process and restart.
// The first process to store one wins; the others read what it stored.
import { eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { settings } from '../db/schema.ts'

/** The stored value of `key`, storing `make()` first when there is none yet. */
export async function storedSecret(db: Db, key: string, make: () => string): Promise<string> {
  await db.insert(settings).values({ key, value: make() }).onConflictDoNothing()
  const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key))
  return row!.value
}

/** PARLEY_SECRET, or the one generated and stored in its place (signs links sent out). */
export function signingSecret(db: Db, configured: string | null): Promise<string> {
  if (configured) return Promise.resolve(configured)
  return storedSecret(db, 'parley_secret', () =>
    Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url'),
  )
}
