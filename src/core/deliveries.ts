// Writes outbox rows in the same transaction as the change that causes them, so a crash between
// "question saved" and "question sent" loses nothing. The outbox (src/notify) sends them.
// Who gets what follows users.notification_prefs:
//   { questions: { telegram?: bool, slack?: bool },   default: on
//     progress:  { telegram?: bool, slack?: bool },   default: off
//     quiet: { start: "22:00", end: "07:00" } }       UTC; holds back progress, never questions
import { type AnyColumn, and, eq, type SQL, sql } from 'drizzle-orm'
import { type DbOrTx, resultRows, sqlArray, type Tx } from '../db/client.ts'
import { deliveries } from '../db/schema.ts'
import { type BusEvent, publishAll } from '../events/bus.ts'
import type { Core } from './context.ts'

/** An active link `l` of the owner or of a user the instance is shared with for WRITE. */
const linkOfRecipient = (instanceId: string | AnyColumn, ownerId: string | AnyColumn) => sql`
  l.active and (l.user_id = ${ownerId} or l.user_id in (
    select a.user_id from instance_access a where a.instance_id = ${instanceId} and a.access = 'WRITE'))`

/** Linked chats of the owner and of users the instance is shared with for WRITE. */
const recipients = (instanceId: string, ownerId: string) => sql`
  select l.user_id, l.channel, l.chat_id, l.team_id, l.external_user_id, u.notification_prefs as prefs
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

/** The target of a link: a Telegram chat id, or "team:user" for Slack. */
const target = sql`case when r.channel = 'telegram' then r.chat_id else r.team_id || ':' || r.external_user_id end`

/** Each function returns the channels it queued rows for: publish `delivery.queued` for each after commit. */
export async function enqueueQuestion(
  tx: Tx,
  q: { ownerId: string; instanceId: string; messageId: string },
): Promise<string[]> {
  return queued(
    tx,
    sql`
    insert into deliveries (user_id, message_id, instance_id, channel, target, kind)
    select r.user_id, ${q.messageId}, ${q.instanceId}, r.channel, ${target}, 'question'
    from (${recipients(q.instanceId, q.ownerId)}) r
    where coalesce((r.prefs->'questions'->>r.channel)::boolean, true)
    on conflict do nothing`,
  )
}

/** Progress (and the session-ended note): refresh the one status message per instance and chat. */
export async function enqueueProgress(
  tx: Tx,
  p: { ownerId: string; instanceId: string; messageId: string },
): Promise<string[]> {
  return queued(
    tx,
    sql`
    insert into deliveries (user_id, message_id, instance_id, channel, target, kind)
    select r.user_id, ${p.messageId}, ${p.instanceId}, r.channel, ${target}, 'progress'
    from (${recipients(p.instanceId, p.ownerId)}) r
    where coalesce((r.prefs->'progress'->>r.channel)::boolean, false)
      and not ${inQuietHours}
    on conflict (instance_id, channel, target) where kind = 'progress' do update
      set message_id = excluded.message_id, state = 'pending', attempts = 0,
          next_attempt_at = greatest(deliveries.next_attempt_at, now())`,
  )
}

const inQuietHours = sql`coalesce((
  select case when (r.prefs->'quiet'->>'start')::time <= (r.prefs->'quiet'->>'end')::time
    then (now() at time zone 'utc')::time between (r.prefs->'quiet'->>'start')::time and (r.prefs->'quiet'->>'end')::time
    else (now() at time zone 'utc')::time >= (r.prefs->'quiet'->>'start')::time
      or (now() at time zone 'utc')::time < (r.prefs->'quiet'->>'end')::time end
  where r.prefs->'quiet'->>'start' is not null and r.prefs->'quiet'->>'end' is not null), false)`

/**
 * After questions are answered: copies not yet sent are never sent; every sent copy gets a
 * 'lock' job that edits it to show who answered, how, and the answer.
 */
export async function enqueueLocks(tx: Tx, questionIds: string[]): Promise<string[]> {
  if (questionIds.length === 0) return []
  const ids = sqlArray(questionIds, 'uuid')
  // One statement (it sits on the answer's path): both parts see the rows as they were, and they
  // touch different states, so pending copies are dropped while sent ones get their lock job.
  return queued(
    tx,
    sql`
    with unsent as (
      update deliveries set state = 'locked'
      where message_id = any(${ids}) and kind = 'question' and state = 'pending')
    insert into deliveries (user_id, message_id, instance_id, channel, target, kind, external_ref)
    select user_id, message_id, instance_id, channel, target, 'lock', external_ref
    from deliveries where message_id = any(${ids}) and kind = 'question' and state = 'sent'
    on conflict do nothing`,
  )
}

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

/** The target string deliveries use for a link: the Telegram chat id, or "team:user" for Slack. */
export const linkTarget = (link: {
  channel: string
  chatId: string | null
  teamId: string | null
  externalUserId: string | null
}) => (link.channel === 'telegram' ? (link.chatId ?? '') : `${link.teamId}:${link.externalUserId}`)

/** The events that wake the outbox for these channels (in this process and, through the bus, the others). */
export const deliveryEvents = (channels: Iterable<string>): BusEvent[] =>
  [...new Set(channels)].map((channel) => ({ type: 'delivery.queued', channel }))

/** After commit: wake the outbox. */
export function announceDeliveries(core: Core, channels: Iterable<string>): Promise<void> {
  return publishAll(core.bus, deliveryEvents(channels))
}
