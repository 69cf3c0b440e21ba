// The dashboard inbox: every instance a person can see (their own and those shared with them),
// instances waiting for an answer first, then by latest activity. One page is chosen by keyset
// first and only its rows get the latest-message preview and the unread count, so the cost of a
// page does not grow with the number of instances or messages (see bench/dashboard.ts).
import { type SQL, sql } from 'drizzle-orm'
import { INSTANCE_STATUSES, type InstanceStatus } from '../db/schema.ts'
import { InvalidInput } from '../errors.ts'
import type { Core } from './context.ts'
import { normalizeAgentType } from './instances.ts'
import { openQuestionSql } from './open-questions.ts'
import { onlineSql } from './presence.ts'
import { messageMatches, ownMessageMatches, searchWords } from './search.ts'
import { decodeCursor, encodeCursor, likePattern, queryRows } from './sql-rows.ts'
import { canonicalUuid } from './wire.ts'

export const INBOX_PAGE_SIZE = 50
/** Unread counts stop at this many ("99+"): counting further costs time and tells nothing. */
export const UNREAD_CAP = 100

export type InboxFilters = {
  q?: string | null
  status?: string | null
  agentType?: string | null
  cursor?: string | null
  limit?: number
}

export type InboxRow = {
  id: string
  name: string | null
  agentType: string
  status: InstanceStatus
  needsInput: boolean
  present: boolean
  /** Null for the owner; READ or WRITE for an instance shared with the viewer. */
  sharedAccess: 'READ' | 'WRITE' | null
  lastActivityMs: number
  preview: string | null
  previewSender: 'AGENT' | 'USER' | null
  unread: number
}

export type InboxPage = { rows: InboxRow[]; nextCursor: string | null }

/**
 * Where a page ends: the inbox order's key (waiting, last activity, id), or with a search the
 * ranking's (name matches, matching messages, last activity, id).
 */
type Key = [boolean, string, string] | [boolean, number, string, string]

function cursorKey(cursor: string, search: boolean): Key {
  const key = decodeCursor(cursor) ?? []
  const [first, ...rest] = key
  const hits = search ? rest.shift() : 0
  const [at, id] = rest
  if (
    key.length !== (search ? 4 : 3) ||
    typeof first !== 'boolean' ||
    !Number.isSafeInteger(hits) ||
    typeof at !== 'string' ||
    typeof id !== 'string' ||
    !canonicalUuid(id)
  ) {
    throw new InvalidInput('cursor', 'cursor is not one this server gave out')
  }
  return search ? [first, hits as number, at, id] : [first, at, id]
}

/** Validates filters once, for the page query and for live updates alike. */
export function normalizeFilters(f: InboxFilters) {
  const q = f.q?.trim() || null
  if (q && q.length > 200) throw new InvalidInput('q', 'q must be at most 200 characters')
  const status = f.status?.trim() || null
  if (status && (!INSTANCE_STATUSES.includes(status as InstanceStatus) || status === 'DELETED')) {
    throw new InvalidInput('status', `status must be one of ${INSTANCE_STATUSES.slice(0, -1).join(', ')}`)
  }
  const agentType = f.agentType?.trim() ? normalizeAgentType(f.agentType) : null
  const after = f.cursor ? cursorKey(f.cursor, q !== null) : null
  const limit = Math.min(Math.max(f.limit ?? INBOX_PAGE_SIZE, 1), 200)
  return { q, status: status as InstanceStatus | null, agentType, after, limit }
}

export type NormalizedFilters = ReturnType<typeof normalizeFilters>

const ORDER = sql`(v.status = 'AWAITING_INPUT') desc, v.last_activity_at desc, v.id desc`

/**
 * Instances `userId` may see (own, and shared to them; never soft-deleted) that pass `where`,
 * first `limit` in `order` (inbox order unless given; all of them, unordered, when `limit` is
 * null). Each branch is ordered and limited on its own so the owner's branch is a short walk of
 * an agent_instances index instead of a sort of every instance.
 */
function visible(userId: string, where: SQL, limit: number | null, order = ORDER) {
  const columns = sql`v.id, v.agent_type_id, v.name, v.status, v.last_activity_at, v.last_heartbeat_at`
  const first = limit === null ? sql`` : sql`order by ${order} limit ${limit}`
  return sql`(
    (select ${columns}, null::text as shared_access from agent_instances v
     where v.user_id = ${userId} and v.status <> 'DELETED' and ${where}
     ${first})
    union all
    (select ${columns}, a.access as shared_access
     from instance_access a join agent_instances v on v.id = a.instance_id
     where a.user_id = ${userId} and v.user_id <> ${userId} and v.status <> 'DELETED' and ${where}
     ${first})
  )`
}

/** The filters other than the search words and the cursor, on `v` (an agent_instances row). */
function conditions(f: NormalizedFilters, only: string | null): SQL {
  const parts: SQL[] = [sql`true`]
  if (only) parts.push(sql`v.id = ${only}`)
  if (f.status) parts.push(sql`v.status = ${f.status}`)
  if (f.agentType) {
    parts.push(
      sql`exists (select 1 from agent_types t where t.id = v.agent_type_id and t.name = ${f.agentType})`,
    )
  }
  return sql.join(parts, sql` and `)
}

/** The first `limit` instances in inbox order after the cursor: waiting ones first, then by activity. */
function inboxOrder(userId: string, f: NormalizedFilters, only: string | null, limit: number): SQL {
  let where = conditions(f, only)
  if (f.after?.length === 3) {
    const [needs, at, id] = f.after
    where = sql`${where} and ((v.status = 'AWAITING_INPUT'), v.last_activity_at, v.id) < (${needs}, ${at}::timestamptz, ${id}::uuid)`
  }
  return sql`
    select v.*, false as name_hit, 0 as hits
    from ${visible(userId, where, limit)} v
    order by ${ORDER}
    limit ${limit}`
}

/**
 * Past this many matching messages a search stops counting them: it shows instances whose name
 * matches, then the most recently active ones with a matching message, found by walking them in
 * that order. Counting every match of a word found in nearly every message would read them all.
 */
export const SEARCH_COUNT_CAP = 1_000

/**
 * The first `limit` instances matching the search after the cursor, best first: those whose name
 * contains the text, then those with more matching messages, then the latest activity. Messages
 * are found through the search index, at most SEARCH_COUNT_CAP of them (see there): the viewer's
 * own, and those of instances shared with them, looked up per owner so the index reads only the
 * messages of people whose instances the viewer sees. Only the branches the count selects run
 * (the others' gate is a one-time filter). Past the cap, instances are walked from the most
 * recently active down and each is checked for one matching message until the page is full.
 */
function searchOrder(userId: string, f: NormalizedFilters, only: string | null, limit: number): SQL {
  const q = f.q ?? ''
  const words = searchWords(q)
  const pattern = likePattern(q)
  const nameHit = sql`coalesce(v.name ilike ${pattern}, false)`
  const where = conditions(f, only)
  /** Rows of `v` after the cursor, given the row's name match and count. */
  const after = (hit: SQL, hits: SQL) => {
    if (f.after?.length !== 4) return sql`true`
    const [h, n, at, id] = f.after
    return sql`(${hit}, ${hits}, v.last_activity_at, v.id) < (${h}, ${n}::int, ${at}::timestamptz, ${id}::uuid)`
  }
  const few = sql`(select count(*) from found) < ${SEARCH_COUNT_CAP}`
  const found = words
    ? sql`
      (select m.instance_id from messages m where ${ownMessageMatches('m', words, userId)} limit ${SEARCH_COUNT_CAP})
      union all
      (select m.instance_id
       from (select distinct v.user_id from instance_access a join agent_instances v on v.id = a.instance_id
             where a.user_id = ${userId} and v.user_id <> ${userId}) o
       cross join lateral (
         select m.instance_id from messages m
         where ${ownMessageMatches('m', words, sql`o.user_id`)}
           and m.instance_id in (select a.instance_id from instance_access a where a.user_id = ${userId})
         limit ${SEARCH_COUNT_CAP}) m
       limit ${SEARCH_COUNT_CAP})
      limit ${SEARCH_COUNT_CAP}`
    : sql`select null::uuid as instance_id where false`
  const probe = words
    ? sql`exists (select 1 from messages m where m.instance_id = v.id and ${messageMatches('m', words)})`
    : sql`false`
  const hits = sql`coalesce(h.n, 0)`
  /** Past the cap: the most recently active instances passing `cond`, named or not. */
  const latest = (named: boolean, cond: SQL) =>
    visible(
      userId,
      sql`not (${few}) and ${cond} and ${after(sql.raw(`${named}`), sql`0`)} and ${where}`,
      limit,
      sql`v.last_activity_at desc, v.id desc`,
    )
  return sql`
    with found as materialized (${found})
    select v.*, ${nameHit} as name_hit, ${hits} as hits
    from ${visible(userId, where, null)} v
    left join (select instance_id, count(*)::int as n from found group by instance_id) h
      on h.instance_id = v.id
    where ${few} and (v.name ilike ${pattern} or h.n is not null) and ${after(nameHit, hits)}
    union all
    select v.*, true as name_hit, 0 as hits from ${latest(true, sql`v.name ilike ${pattern}`)} v
    union all
    select v.*, false as name_hit, 0 as hits from ${latest(false, sql`not ${nameHit} and ${probe}`)} v
    order by name_hit desc, hits desc, last_activity_at desc, id desc
    limit ${limit}`
}

type RawRow = {
  id: string
  name: string | null
  agent_type: string
  status: InstanceStatus
  needs_input: boolean
  present: boolean
  shared_access: 'READ' | 'WRITE' | null
  name_hit: boolean
  hits: number
  activity_key: string
  activity_ms: number
  preview: string | null
  preview_sender: 'AGENT' | 'USER' | null
  unread: number
}

async function select(core: Core, userId: string, f: NormalizedFilters, only: string | null, limit: number) {
  const query = sql`
    with page as (
      select v.*, t.name as agent_type, v.status = 'AWAITING_INPUT' as needs_input
      from (${(f.q ? searchOrder : inboxOrder)(userId, f, only, limit)}) v
      join agent_types t on t.id = v.agent_type_id
    )
    select p.id, p.name, p.agent_type, p.status, p.needs_input, p.shared_access, p.name_hit, p.hits,
      ${onlineSql('p.last_heartbeat_at', 'p.status')} as present,
      p.last_activity_at::text as activity_key,
      (extract(epoch from p.last_activity_at) * 1000)::float8 as activity_ms,
      last.content as preview, last.sender as preview_sender,
      (select count(*)::int from (
        select 1 from messages m
        where m.instance_id = p.id and m.sender_user_id is distinct from ${userId}
          and m.id > coalesce(r.last_seen_message_id, '00000000-0000-0000-0000-000000000000'::uuid)
        limit ${UNREAD_CAP}) u) as unread
    from page p
    left join instance_reads r on r.user_id = ${userId} and r.instance_id = p.id
    left join lateral (
      select left(m.content, 300) as content, m.sender from messages m
      where m.instance_id = p.id order by m.id desc limit 1) last on true
    order by ${f.q ? sql`p.name_hit desc, p.hits desc, ` : sql`p.needs_input desc, `}p.last_activity_at desc, p.id desc`
  if (!f.q) return queryRows<RawRow>(core.db, query)
  // A search's best plan depends on how common its words are: the index for rare ones, reading
  // messages in order until enough match for one in every message. A prepared statement's generic
  // plan knows neither, took the index for every search, and spent 0.7 s on "tests" (bench).
  return core.db.transaction(async (tx) => {
    await tx.execute(sql`set local plan_cache_mode = force_custom_plan`)
    return queryRows<RawRow>(tx, query)
  })
}

const toRow = (r: RawRow): InboxRow => ({
  id: r.id,
  name: r.name,
  agentType: r.agent_type,
  status: r.status,
  needsInput: r.needs_input,
  present: r.present,
  sharedAccess: r.shared_access,
  lastActivityMs: Number(r.activity_ms),
  preview: r.preview,
  previewSender: r.preview_sender,
  unread: r.unread,
})

export async function inboxPage(core: Core, userId: string, filters: NormalizedFilters): Promise<InboxPage> {
  const raw = await select(core, userId, filters, null, filters.limit + 1)
  const more = raw.length > filters.limit
  const rows = raw.slice(0, filters.limit)
  const last = rows.at(-1)
  const key = filters.q
    ? [last?.name_hit, last?.hits, last?.activity_key, last?.id]
    : [last?.needs_input, last?.activity_key, last?.id]
  const nextCursor = more && last ? encodeCursor(key) : null
  return { rows: rows.map(toRow), nextCursor }
}

/** One instance as an inbox row, or null when the viewer may not see it or the filters exclude it. */
export async function inboxRow(core: Core, userId: string, filters: NormalizedFilters, instanceId: string) {
  const [raw] = await select(core, userId, { ...filters, after: null }, instanceId, 1)
  return raw ? toRow(raw) : null
}

/** Agent type names the viewer has instances of, for the filter menu. */
export async function agentTypeNames(core: Core, userId: string): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(
    core.db,
    sql`select distinct t.name from agent_types t where t.user_id = ${userId} or t.id in (
          select i.agent_type_id from instance_access a join agent_instances i on i.id = a.instance_id
          where a.user_id = ${userId}) order by t.name limit 100`,
  )
  return rows.map((r) => r.name)
}

/** The newest waiting question: its instance and the start of its text. */
export type NewestQuestion = {
  id: string
  instance: { id: string; name: string | null; agentType: string }
  content: string
}

/**
 * How many questions wait for the viewer (open questions on instances they own or that are shared
 * with them), and the newest one: the title's count and the open tab's notification.
 */
export async function waitingQuestions(
  core: Core,
  userId: string,
): Promise<{ count: number; newest: NewestQuestion | null }> {
  const rows = await queryRows<{
    count: number
    id: string
    instance_id: string
    agent_type: string
    name: string | null
    content: string
  }>(
    core.db,
    sql`
    select count(*) over ()::int as count, m.id, m.instance_id, t.name as agent_type, v.name,
      left(m.content, 300) as content
    from ${visible(userId, sql`v.status = 'AWAITING_INPUT'`, 1000)} v
    join agent_types t on t.id = v.agent_type_id
    join messages m on m.instance_id = v.id and ${openQuestionSql('m')}
    order by m.id desc
    limit 1`,
  )
  const r = rows[0]
  if (!r) return { count: 0, newest: null }
  const instance = { id: r.instance_id, name: r.name, agentType: r.agent_type }
  return { count: r.count, newest: { id: r.id, instance, content: r.content } }
}
