// Chat platforms redeliver updates (Slack retries an event it thinks was missed, a webhook may be
// replayed): each update id is recorded once, so a redelivery is recognised and has no effect,
// even when another process handled the first copy.
import type { DbOrTx } from '../db/client.ts'
import { processedUpdates } from '../db/schema.ts'

/** True the first time `externalId` is seen from `source`, false for every redelivery. */
export async function firstSeen(db: DbOrTx, source: string, externalId: string): Promise<boolean> {
  const rows = await db
    .insert(processedUpdates)
    .values({ source, externalId })
    .onConflictDoNothing()
    .returning({ id: processedUpdates.externalId })
  return rows.length > 0
}
