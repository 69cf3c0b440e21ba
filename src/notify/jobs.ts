// Reads what an adapter needs to render one outbox row: the instance, the question (or latest
// progress message) and, once there is one, the answer with who gave it and how. Read at send time,
// not at claim time, so a question answered in the meantime is never sent and edits show the latest.

import { messageAnchor } from '../../views/thread.tsx'
import type { Core } from '../core/context.ts'
import { readPendingDeliveries } from '../core/outbox-store.ts'
import type { DeliveryJob } from './channel.ts'

export const instanceUrl = (baseUrl: string, instanceId: string) => `${baseUrl}/instances/${instanceId}`

/** A link to the question on its instance page; replies to any message carrying it answer it. */
export const questionLink = (instanceUrl: string, questionId: string) =>
  `${instanceUrl}#${messageAnchor(questionId)}`

/** Plain text cut to `max` characters, an ellipsis marking the cut. */
export const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s)

type InstanceName = { id: string; name: string | null; agentType: string }

/** The instance by name, or by the start of its id when it has none (plain text). */
export const instanceName = (instance: InstanceName) => clip(instance.name ?? instance.id.slice(0, 8), 80)

/** "claude_code · repo": how a message names an instance (plain text; escape it for HTML). */
export const instanceLabel = (instance: InstanceName) =>
  `${clip(instance.agentType, 60)} · ${instanceName(instance)}`

/** The jobs of the rows among `ids` still pending (not locked, sent or gone), read in one statement. */
export async function loadJobs(
  db: Core['db'],
  ids: readonly string[],
  baseUrl: string,
): Promise<Map<string, DeliveryJob>> {
  const rows = await readPendingDeliveries(db, ids)
  const jobs = new Map<string, DeliveryJob>()
  for (const [id, row] of rows) {
    jobs.set(id, { ...row, instance: { ...row.instance, url: instanceUrl(baseUrl, row.instance.id) } })
  }
  return jobs
}
