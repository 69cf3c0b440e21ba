// The outbox's side of the `deliveries` table: claiming due rows (FOR UPDATE SKIP LOCKED, then a
// lease that hides them from other processes), reading the rows due together with what a channel
// needs to render them, and writing the sends' results back (those that finish together in one
// statement). Rows are only written here and in core/deliveries.ts;
// the outbox (src/notify) decides when and how to send, never how rows are stored.
import { type SQL, sql } from 'drizzle-orm'
import { type Db, resultRows, sqlArray } from '../db/client.ts'
import { cachedStatement } from '../db/statements.ts'
import { answerSummary } from './answer-wording.ts'
import { deactivateLink } from './links.ts'
import { endedSql } from './statuses.ts'

export type DeliveryKind = 'question' | 'lock' | 'progress' | 'webhook'

/** A due row as claiming sees it. */
export type DeliveryCandidate = { id: string; channel: string; target: string }

/** One row with the instance, the question (or latest progress message) and any answer. */
export type StoredDelivery = {
  id: string
  kind: DeliveryKind
  channel: string
  target: string
  recipientUserId: string
  attempts: number
  externalRef: unknown
  payload: unknown
  /** `ended`: the status is one of ENDED_STATUSES (core/statuses.ts). */
  instance: { id: string; name: string | null; agentType: string; status: string; ended: boolean }
  message: {
    id: string
    content: string
    options: string[] | null
    createdAt: string
    /** When the question stops being open (its timeout); null when it never does. */
    timeoutAt?: string | null
  }
  answer: { messageId: string; content: string; by: string | null; via: string | null; at: string } | null
  /** How an answered or closed question reads on every copy (answerSummary); null while open. */
  summary: string | null
}

const uuids = (ids: string[]) => sqlArray(ids, 'uuid')
const texts = (xs: string[]) => sqlArray(xs, 'text')
const secs = (ms: number) => ms / 1000

/**
 * In one transaction: locks up to `batch` due rows of `channels` (skipping "channel:target" pairs
 * in `cooling`), lets `pick` choose which to send now, and leases those for `leaseMs`.
 * Returns how many rows were looked at (a full batch means more may be due).
 */
export async function claimDue(
  db: Db,
  q: { channels: string[]; cooling: string[]; batch: number; leaseMs: number },
  pick: (candidates: DeliveryCandidate[]) => string[],
): Promise<number> {
  return db.transaction(async (tx) => {
    const candidates = resultRows<DeliveryCandidate>(
      await tx.execute(sql`
        select id, channel, target from deliveries
        where state = 'pending' and next_attempt_at <= now()
          and channel = any(${texts(q.channels)})
          and channel || ':' || target <> all(${texts(q.cooling)})
        order by next_attempt_at
        limit ${q.batch}
        for update skip locked`),
    )
    const picked = pick(candidates)
    if (picked.length > 0) {
      await tx.execute(sql`
        update deliveries set next_attempt_at = now() + make_interval(secs => ${secs(q.leaseMs)})
        where id = any(${uuids(picked)})`)
    }
    return candidates.length
  })
}

/** Milliseconds until the next pending row of `channels` (outside `cooling`) is due; Infinity if none. */
export async function msUntilNextDue(db: Db, channels: string[], cooling: string[]): Promise<number> {
  const [next] = resultRows<{ ms: number | string | null }>(
    await db.execute(sql`
      select extract(epoch from min(next_attempt_at) - now()) * 1000 as ms from deliveries
      where state = 'pending' and channel = any(${texts(channels)})
        and channel || ':' || target <> all(${texts(cooling)})`),
  )
  return next?.ms == null ? Number.POSITIVE_INFINITY : Number(next.ms)
}

/** Leased rows that were not sent after all (the outbox stopped): due again now. */
export async function releaseDeliveries(db: Db, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  await db.execute(sql`update deliveries set next_attempt_at = now()
    where id = any(${uuids(ids)}) and state = 'pending'`)
}

type Row = {
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
  timeout_at: string | Date | null
  instance_id: string
  instance_name: string | null
  agent_type: string
  status: string
  ended: boolean
  answer_id: string | null
  answer_content: string | null
  answer_pressed: boolean | null
  answered_by: string | null
  answered_via: string | null
  answered_at: string | Date | null
  closed_reason: string | null
}

const iso = (v: string | Date) => new Date(v).toISOString()

/**
 * Ids as one bound value, so that the statement's text is the same for any count and prepared
 * once (sqlArray binds each id apart): `uuidArray(v.ids)` is the uuid[] in SQL.
 */
const idList = (ids: readonly string[]) => ids.join(',')
const uuidArray = (list: SQL) => sql`string_to_array(${list}, ',')::uuid[]`

const readPendingStatement = cachedStatement<Record<string, never>, { ids: string }>(
  (_, v) => sql`
      select d.id, d.kind, d.channel, d.target, d.user_id, d.attempts, d.external_ref, d.payload,
        m.id as message_id, m.content, m.options, m.created_at, m.timeout_at,
        i.id as instance_id, i.name as instance_name, t.name as agent_type, i.status, ${endedSql('i.status')} as ended,
        a.id as answer_id, a.content as answer_content, a.metadata ? 'option' as answer_pressed, coalesce(u.display_name, u.email) as answered_by,
        m.answered_via, m.answered_at, m.metadata->>'closed_reason' as closed_reason
      from deliveries d
      join messages m on m.id = d.message_id
      join agent_instances i on i.id = m.instance_id
      join agent_types t on t.id = i.agent_type_id
      left join messages a on a.id = m.answer_message_id
      left join users u on u.id = m.answered_by
      where d.id = any(${uuidArray(v.ids)}) and d.state = 'pending'`,
)

/**
 * The rows among `ids` still pending (not locked, sent or removed), read at send time, in one
 * statement: sends booked for the same moment (a question's copies to every device) read together.
 */
export async function readPendingDeliveries(
  db: Db,
  ids: readonly string[],
): Promise<Map<string, StoredDelivery>> {
  if (ids.length === 0) return new Map()
  const rows = await readPendingStatement<Row>(db, {}, { ids: idList(ids) })
  return new Map(rows.map((r) => [r.id, storedDelivery(r)]))
}

function storedDelivery(r: Row): StoredDelivery {
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
      ended: r.ended,
    },
    message: {
      id: r.message_id,
      content: r.content,
      options: r.options,
      createdAt: iso(r.created_at),
      timeoutAt: r.timeout_at ? iso(r.timeout_at) : null,
    },
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
          pressed: r.answer_pressed,
        })
      : null,
  }
}

const refJson = (ref: unknown) => (ref === undefined ? null : JSON.stringify(ref))

/**
 * A progress message was sent. It stays pending when it was queued again meanwhile (a newer
 * message, or the session-ended note, which keeps the message id: the row's payload counts the
 * queuings) or the status changed, due after `intervalMs`. The row's own columns are what decide:
 * a queuing that commits while this waits for the row is seen, where the instance's status is
 * read from this statement's snapshot and would still show the status before it.
 */
export async function recordProgressSent(
  db: Db,
  d: {
    id: string
    messageId: string
    status: string
    /** The row's payload as the send read it. */
    payload: unknown
    externalRef?: unknown
    intervalMs: number
  },
): Promise<void> {
  await db.execute(sql`
    update deliveries set
      state = case when message_id = ${d.messageId}
        and payload is not distinct from ${refJson(d.payload ?? undefined)}::jsonb and ${d.status} =
        (select i.status from agent_instances i where i.id = deliveries.instance_id)
        then 'sent' else 'pending' end,
      external_ref = coalesce(${refJson(d.externalRef)}::jsonb, external_ref), attempts = 0, last_error = null,
      next_attempt_at = now() + make_interval(secs => ${secs(d.intervalMs)})
    where id = ${d.id}`)
}

/** A question, lock or webhook copy the channel accepted; `messageId` is the row's message. */
export type SentCopy = { id: string; kind: DeliveryKind; messageId: string; externalRef?: unknown }

/**
 * Marks copies sent. With `skipLocked`, rows another statement holds are left out (and not
 * returned) instead of waited for: a statement that waits for one row while holding others can
 * deadlock with an answer locking the same question's copies in another order. One row alone
 * cannot, so those are written one by one, waiting.
 */
const markSentStatement = cachedStatement<{ skipLocked: boolean }, { rows: string }>(
  (s, v) => sql`
    with sent as (select * from json_to_recordset(${v.rows}::json) as r(id uuid, ref jsonb)),
    mine as (
      select d.id from deliveries d where d.id in (select id from sent) order by d.id
      for update${sql.raw(s.skipLocked ? ' skip locked' : '')})
    update deliveries d set state = 'sent', external_ref = coalesce(sent.ref, d.external_ref),
      last_error = null, next_attempt_at = now()
    from sent where d.id = sent.id and d.id in (select id from mine)
    returning d.id`,
)

/**
 * After question copies of one message were marked sent: a lock job for each if the question was
 * answered meanwhile. An answer whose lock statement ran before the copies' update committed saw
 * them as pending and queued no lock for them. That answer has already written the question row:
 * locking the row waits for it to commit and then reads it as answered (a locking read returns
 * the newest version), so the locks are queued here instead of being lost. Only that one message
 * row is waited for.
 */
const lateLocksStatement = cachedStatement<Record<string, never>, { messageId: string; ids: string }>(
  (_, v) => sql`
    with q as (select m.id, m.answered_at from messages m where m.id = ${v.messageId}::uuid for share)
    insert into deliveries (user_id, message_id, instance_id, channel, target, kind, external_ref)
    select d.user_id, d.message_id, d.instance_id, d.channel, d.target, 'lock', d.external_ref
    from deliveries d join q on q.id = d.message_id
    where d.id = any(${uuidArray(v.ids)}) and q.answered_at is not null
    on conflict do nothing
    returning id`,
)

/**
 * Copies were sent (a question's copies finishing together are written in one statement). A
 * question answered while its copies were being sent now has copies, which get their lock edits
 * too: returns whether such a lock row was queued.
 */
export async function recordSent(db: Db, sent: readonly SentCopy[]): Promise<boolean> {
  const rows = (list: readonly SentCopy[]) =>
    JSON.stringify(list.map((c) => ({ id: c.id, ref: c.externalRef === undefined ? null : c.externalRef })))
  const written = await markSentStatement<{ id: string }>(
    db,
    { skipLocked: sent.length > 1 },
    { rows: rows(sent) },
  )
  // Each of the statements below waits for one row at most and holds no other: they run at once.
  if (written.length < sent.length) {
    const done = new Set(written.map((r) => r.id))
    const left = sent.filter((c) => !done.has(c.id))
    await Promise.all(left.map((c) => markSentStatement(db, { skipLocked: false }, { rows: rows([c]) })))
  }
  const questions = new Map<string, string[]>()
  for (const c of sent) {
    if (c.kind !== 'question') continue
    const list = questions.get(c.messageId)
    if (list) list.push(c.id)
    else questions.set(c.messageId, [c.id])
  }
  const locks = await Promise.all(
    [...questions].map(([messageId, list]) => lateLocksStatement(db, {}, { messageId, ids: idList(list) })),
  )
  return locks.some((queued) => queued.length > 0)
}

/**
 * The row will never be sent. With `deactivate`, the chat is gone or blocked the bot: its link
 * stops receiving and what was waiting for it is dropped.
 */
export async function recordFailed(
  db: Db,
  d: { id: string; error: string; deactivate?: { channel: string; target: string } },
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`
      update deliveries set state = 'failed', attempts = attempts + 1, last_error = ${d.error}
      where id = ${d.id}`)
    if (d.deactivate) await deactivateLink(tx, d.deactivate, d.error)
  })
}

/** The send failed for now: due again after `delayMs`. */
export async function recordRetry(db: Db, d: { id: string; error: string; delayMs: number }): Promise<void> {
  await db.execute(sql`
    update deliveries set attempts = attempts + 1, last_error = ${d.error},
      next_attempt_at = now() + make_interval(secs => ${secs(d.delayMs)})
    where id = ${d.id}`)
}
