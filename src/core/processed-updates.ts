// Updates already handled from a chat (Telegram update ids, Slack event ids): a sender retries
// until it hears back, so each update is recorded once and a retry has no second effect.
import { sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { processedUpdates } from '../db/schema.ts'

/** Records an incoming update; false if it was seen before (a retry), so it has one effect. */
export async function firstTimeSeen(db: Db, source: string, externalId: string): Promise<boolean> {
  const rows = await db
    .insert(processedUpdates)
    .values({ source, externalId })
    .onConflictDoNothing()
    .returning({ id: processedUpdates.externalId })
  return rows.length > 0
}

/**
 * Forgets handled updates (of every source) older than `days`: Telegram and Slack stop resending
 * long before that. Housekeeping runs it at start and periodically.
 */
export async function pruneProcessedUpdates(db: Db, days = 7): Promise<void> {
  await db.execute(sql`
    delete from processed_updates where created_at < now() - make_interval(days => ${days})`)
}
