// Writes outbox rows in the same transaction as the change that causes them, so a crash between
// "question saved" and "question sent" loses nothing. The outbox (src/notify) sends them.
// Who gets a copy: the owner and the users the instance is shared with for WRITE, on each chat
// they have an active link to (the link's target says where), as users.notification_prefs allow:
//   { questions: { <channel>?: bool },   default: on   (PREF_DEFAULTS in core/notification-prefs.ts)
//     progress:  { <channel>?: bool },   default: off
//     quiet: { start: "22:00", end: "07:00" } }       UTC; holds back progress, never questions
// (a question asked in quiet hours carries payload {"quiet": true}: channels deliver it silently)
import { type AnyColumn, and, desc, eq, type SQL, sql } from 'drizzle-orm'
import { type DbOrTx, resultRows, sqlArray, type Tx } from '../db/client.ts'
import { deliveries } from '../db/schema.ts'
import { type BusEvent, publishAll } from '../events/bus.ts'
import type { Core } from './context.ts'
import { prefOnSql } from './notification-prefs.ts'

/** A value, or where a statement built once binds it (db/statements.ts). */
type Value = string | SQL

/** An active link `l` of the owner or of a user the instance is shared with for WRITE. */
const linkOfRecipient = (instanceId: Value | AnyColumn, ownerId: Value | AnyColumn) => sql`
  l.active and (l.user_id = ${ownerId} or l.user_id in (
    select a.user_id from instance_access a where a.instance_id = ${instanceId} and a.access = 'WRITE'))`

/** Linked chats of the owner and of users the instance is shared with for WRITE. */
const recipients = (instanceId: Value, ownerId: Value) => sql`
  select l.user_id, l.channel, l.target, u.notification_prefs as prefs
  from channel_links l join users u on u.id = l.user_id
  where ${linkOfRecipient(instanceId, ownerId)}`

/**
 * Whether anyone could receive a copy, for the row being read: when nobody has a chat linked
 * (most agents), the enqueue statements are skipped instead of costing a round trip each.
 */
export const hasRecipients = (instanceId: AnyColumn, ownerId: AnyColumn) =>
  sql<boolean>`exists (select 1 from channel_links l where ${linkOfRecipient(instanceId, ownerId)})`

/**
 * Whether the question being updated in `update messages … returning` has copies on a channel
 * (nothing to lock otherwise). Spelled out: drizzle writes columns unqualified in RETURNING, and
 * a bare "id" inside this subquery would mean the delivery's id.
 */
export const hasCopies = () =>
  sql<boolean>`exists (select 1 from deliveries d where d.message_id = "messages"."id" and d.kind = 'question')`

/** Each function returns the channels it queued rows for: publish `delivery.queued` for each after commit. */
export async function enqueueQuestion(
  tx: Tx,
  q: { ownerId: string; instanceId: string; messageId: string },
): Promise<string[]> {
  return queued(tx, questionRowsSql(q))
}

/** Progress (and the session-ended note): refresh the one status message per instance and chat. */
export async function enqueueProgress(
  tx: Tx,
  p: { ownerId: string; instanceId: string; messageId: string },
): Promise<string[]> {
  return queued(tx, progressRowsSql(p))
}

type Copy = { ownerId: Value; instanceId: Value; messageId: Value }

/**
 * The outbox insert of enqueueQuestion, without its `returning`, for a statement that writes the
 * question too; `guard` is a condition the rows also need (e.g. "the message was written").
 */
export const questionRowsSql = (q: Copy, guard: SQL = sql`true`) => sql`
    insert into deliveries (user_id, message_id, instance_id, channel, target, kind, payload)
    select r.user_id, ${q.messageId}, ${q.instanceId}, r.channel, r.target, 'question',
      case when ${inQuietHours} then '{"quiet": true}'::jsonb end
    from (${recipients(q.instanceId, q.ownerId)}) r
    where ${prefOnSql(sql`r.prefs`, 'questions', sql`r.channel`)} and ${guard}
    on conflict do nothing`

/** The outbox insert of enqueueProgress, as questionRowsSql. */
export const progressRowsSql = (p: Copy, guard: SQL = sql`true`) => sql`
    insert into deliveries (user_id, message_id, instance_id, channel, target, kind)
    select r.user_id, ${p.messageId}, ${p.instanceId}, r.channel, r.target, 'progress'
    from (${recipients(p.instanceId, p.ownerId)}) r
    where ${prefOnSql(sql`r.prefs`, 'progress', sql`r.channel`)}
      and not ${inQuietHours} and ${guard}
    on conflict (instance_id, channel, target) where kind = 'progress' do update
      set message_id = excluded.message_id, state = 'pending', attempts = 0,
          next_attempt_at = greatest(deliveries.next_attempt_at, now()),
          payload = ${progressEnqueuedSql}`

/**
 * A progress row's payload counts the times it was queued again: the session-ended note keeps the
 * message id, and only the row itself tells a send in flight that it was queued meanwhile
 * (recordProgressSent, which reads the row as it is once a concurrent queuing commits).
 */
const progressEnqueuedSql = sql`jsonb_build_object('enqueued',
          coalesce((deliveries.payload->>'enqueued')::bigint, 0) + 1)`

/** Whether now (UTC) falls in the quiet hours of the notification prefs jsonb `prefs`. */
const quietNowSql = (prefs: SQL) => sql`coalesce((
  select case when (${prefs}->'quiet'->>'start')::time <= (${prefs}->'quiet'->>'end')::time
    then (now() at time zone 'utc')::time between (${prefs}->'quiet'->>'start')::time and (${prefs}->'quiet'->>'end')::time
    else (now() at time zone 'utc')::time >= (${prefs}->'quiet'->>'start')::time
      or (now() at time zone 'utc')::time < (${prefs}->'quiet'->>'end')::time end
  where ${prefs}->'quiet'->>'start' is not null and ${prefs}->'quiet'->>'end' is not null), false)`

const inQuietHours = quietNowSql(sql`r.prefs`)

/**
 * After questions are answered: copies not yet sent are never sent; every sent copy gets a
 * 'lock' job that edits it to show who answered, how, and the answer.
 */
export async function enqueueLocks(tx: Tx, questionIds: string[]): Promise<string[]> {
  if (questionIds.length === 0) return []
  const ids = sql`select unnest(${sqlArray(questionIds, 'uuid')})`
  return queued(tx, sql`with copies as (${touchCopiesSql(ids)}) ${lockJobsSql('copies')}`)
}

/**
 * enqueueLocks' first half: the question copies of `ids` (a query of their ids), pending ones
 * marked locked (never to be sent), each returned with its state. An update, not a read: it sees
 * each copy as it is now, not as the statement's snapshot had it. A copy whose sending finished
 * after an answer written in one statement began (outbox-store.ts recordSent) is 'sent' here and
 * gets its lock job; read from the snapshot it would still look pending, and recordSent, which
 * checked the question before that statement answered it, queues none either.
 */
export const touchCopiesSql = (ids: SQL) => sql`
    update deliveries set state = case when state = 'pending' then 'locked' else state end
    where message_id in (${ids}) and kind = 'question' and state in ('pending', 'sent')
    returning user_id, message_id, instance_id, channel, target, external_ref, state`

/** enqueueLocks' second half: a lock job per sent copy of `copies` (a CTE of touchCopiesSql), without its `returning`. */
export const lockJobsSql = (copies: string) => sql`
    insert into deliveries (user_id, message_id, instance_id, channel, target, kind, external_ref)
    select user_id, message_id, instance_id, channel, target, 'lock', external_ref
    from ${sql.raw(copies)} where state = 'sent'
    on conflict do nothing`

/** Queues webhookRowsSql for answered questions known to the caller. */
export function enqueueWebhooks(
  tx: Tx,
  answered: { id: string; metadata: unknown }[],
  a: { ownerId: string; instanceId: string; answerId: string; by: string },
): Promise<string[]> {
  const rows = sql`select * from jsonb_to_recordset(${JSON.stringify(answered)}::jsonb) as x(id uuid, metadata jsonb)`
  return queued(tx, webhookRowsSql(rows, a))
}

/**
 * The n8n resume webhooks of answered questions (`answered`: a relation with their `id` and
 * `metadata`), without its `returning`: one row per question whose metadata names a webhook_url.
 */
export const webhookRowsSql = (
  answered: SQL,
  a: { ownerId: Value; instanceId: Value; answerId: Value; by: Value },
) => sql`
    insert into deliveries (user_id, message_id, instance_id, channel, kind, target, payload)
    select ${a.ownerId}::uuid, q.id, ${a.instanceId}::uuid, 'webhook', 'webhook', q.metadata->>'webhook_url',
      jsonb_build_object('answerMessageId', ${a.answerId}::text, 'actorUserId', ${a.by}::text)
    from (${answered}) q
    where jsonb_typeof(q.metadata->'webhook_url') = 'string' and q.metadata->>'webhook_url' <> ''
    on conflict do nothing`

async function queued(tx: Tx, insert: SQL): Promise<string[]> {
  const rows = resultRows<{ channel: string }>(await tx.execute(sql`${insert} returning channel`))
  return [...new Set(rows.map((r) => r.channel))]
}

/** Rows still waiting for a chat are not sent once its link is gone or belongs to someone else. */
export async function dropPendingDeliveries(
  tx: DbOrTx,
  d: { channel: string; target: string; reason: string },
): Promise<void> {
  await tx
    .update(deliveries)
    .set({ state: 'failed', lastError: d.reason })
    .where(
      and(
        eq(deliveries.channel, d.channel),
        eq(deliveries.target, d.target),
        eq(deliveries.state, 'pending'),
      ),
    )
}

/** The events that wake the outbox for these channels (in this process and, through the bus, the others). */
export const deliveryEvents = (channels: Iterable<string>): BusEvent[] =>
  [...new Set(channels)].map((channel) => ({ type: 'delivery.queued', channel }))

/** After commit: wake the outbox. */
export function announceDeliveries(core: Core, channels: Iterable<string>): Promise<void> {
  return publishAll(core.bus, deliveryEvents(channels))
}

/** A delivery of an instance that gave up (a webhook that stayed down, a chat that refused). */
export type FailedDelivery = {
  id: string
  channel: string
  kind: string
  target: string
  attempts: number
  lastError: string | null
  createdAt: Date
}

/** The instance's deliveries that failed for good, newest first, for its owner's page. */
export function failedDeliveries(db: DbOrTx, instanceId: string, limit = 20): Promise<FailedDelivery[]> {
  return db
    .select({
      id: deliveries.id,
      channel: deliveries.channel,
      kind: deliveries.kind,
      target: deliveries.target,
      attempts: deliveries.attempts,
      lastError: deliveries.lastError,
      createdAt: deliveries.createdAt,
    })
    .from(deliveries)
    .where(and(eq(deliveries.instanceId, instanceId), eq(deliveries.state, 'failed')))
    .orderBy(desc(deliveries.createdAt))
    .limit(limit)
}
