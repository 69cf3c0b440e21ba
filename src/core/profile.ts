// What a person may change about themselves from the dashboard: the name shown to others.
import { eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { users } from '../db/schema.ts'
import { InvalidInput } from '../errors.ts'

export const MAX_DISPLAY_NAME = 100

/** Sets the display name ('' clears it, so the email is shown instead). */
export async function setDisplayName(db: Db, userId: string, name: string): Promise<string | null> {
  const value = name.trim()
  if (value.length > MAX_DISPLAY_NAME)
    throw new InvalidInput('display_name', `Display name must be at most ${MAX_DISPLAY_NAME} characters`)
  await db
    .update(users)
    .set({ displayName: value || null })
    .where(eq(users.id, userId))
  return value || null
}
