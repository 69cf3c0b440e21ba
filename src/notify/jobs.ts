// Reads what an adapter needs to render one outbox row: the instance, the question (or latest
// progress message) and, once there is one, the answer with who gave it and how. Read at send time,
// not at claim time, so a question answered in the meantime is never sent and edits show the latest.
import { sql } from 'drizzle-orm'
import { answerSummary } from '../core/answers.ts'
import { type DbOrTx, resultRows } from '../db/client.ts'
import type { DeliveryJob, DeliveryKind } from './channel.ts'

type JobRow = {
  id: string
  kind: DeliveryKind
  channel: string
  target: string
  user_id: string
  attempts: number
  external_ref: unknown
  payload: unknown
  message_id: string
  content: string
  options: string[] | null
  created_at: string | Date
  instance_id: string
  instance_name: string | null
  agent_type: string
  status: string
  answer_id: string | null
  answer_content: string | null
  answered_by: string | null
  answered_via: string | null
  answered_at: string | Date | null
  closed_reason: string | null
}

const iso = (v: string | Date) => new Date(v).toISOString()

export const instanceUrl = (baseUrl: string, instanceId: string) => `${baseUrl}/instances/${instanceId}`

/** The job for a pending row, or null when the row is no longer pending (locked, sent, gone). */
export async function loadJob(db: DbOrTx, id: string, baseUrl: string): Promise<DeliveryJob | null> {
  const [r] = resultRows<JobRow>(
    await db.execute(sql`
      select d.id, d.kind, d.channel, d.target, d.user_id, d.attempts, d.external_ref, d.payload,
        m.id as message_id, m.content, m.options, m.created_at,
        i.id as instance_id, i.name as instance_name, t.name as agent_type, i.status,
        a.id as answer_id, a.content as answer_content, coalesce(u.display_name, u.email) as answered_by,
        m.answered_via, m.answered_at, m.metadata->>'closed_reason' as closed_reason
      from deliveries d
      join messages m on m.id = d.message_id
      join agent_instances i on i.id = m.instance_id
      join agent_types t on t.id = i.agent_type_id
      left join messages a on a.id = m.answer_message_id
      left join users u on u.id = m.answered_by
      where d.id = ${id} and d.state = 'pending'`),
  )
  if (!r) return null
  return {
    id: r.id,
    kind: r.kind,
    channel: r.channel,
    target: r.target,
    recipientUserId: r.user_id,
    attempts: r.attempts,
    externalRef: r.external_ref,
    payload: r.payload,
    instance: {
      id: r.instance_id,
      name: r.instance_name,
      agentType: r.agent_type,
      status: r.status,
      url: instanceUrl(baseUrl, r.instance_id),
    },
    message: { id: r.message_id, content: r.content, options: r.options, createdAt: iso(r.created_at) },
    answer:
      r.answered_at && r.answer_id
        ? {
            messageId: r.answer_id,
            content: r.answer_content ?? '',
            by: r.answered_by,
            via: r.answered_via,
            at: iso(r.answered_at),
          }
        : null,
    summary: r.answered_at
      ? answerSummary({
          by: r.answered_by,
          via: r.answered_via,
          at: iso(r.answered_at),
          reason: r.closed_reason,
          answer: r.answer_content,
          options: r.options,
        })
      : null,
  }
}
