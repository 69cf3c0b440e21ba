// Reads what an adapter needs to render one outbox row: the instance, the question (or latest
// progress message) and, once there is one, the answer with who gave it and how. Read at send time,
// not at claim time, so a question answered in the meantime is never sent and edits show the latest.
import type { Core } from '../core/context.ts'
import { readPendingDelivery } from '../core/outbox-store.ts'
import type { DeliveryJob } from './channel.ts'

export const instanceUrl = (baseUrl: string, instanceId: string) => `${baseUrl}/instances/${instanceId}`

/** The job for a pending row, or null when the row is no longer pending (locked, sent, gone). */
export async function loadJob(db: Core['db'], id: string, baseUrl: string): Promise<DeliveryJob | null> {
  const row = await readPendingDelivery(db, id)
  return row && { ...row, instance: { ...row.instance, url: instanceUrl(baseUrl, row.instance.id) } }
}
