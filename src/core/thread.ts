// What a person sees on an instance page: the instance (if they may see it at all: owner, or
// shared READ/WRITE), its thread newest page first with older pages by message-id cursor, and
// their read position, which drives the inbox unread counts.
import { and, asc, desc, eq, gt, lt, type SQL, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import type { DbOrTx } from '../db/client.ts'
import { agentInstances, agentTypes, instanceAccess, instanceReads, messages, users } from '../db/schema.ts'
import { type DiffFile, parseDiff } from './diff-parse.ts'
import { instanceNotFound } from './instances.ts'
import { onlineSql } from './presence.ts'
import { hasRelaySql } from './relay-sessions.ts'

export type Access = 'OWNER' | 'WRITE' | 'READ'
export const THREAD_PAGE_SIZE = 50

const diffKeySql = sql<string | null>`md5(${agentInstances.gitDiff})`

/** The instance and the viewer's access; 404 when it does not exist, is deleted, or is not theirs. */
export async function viewInstance(db: DbOrTx, viewerId: string, instanceId: string) {
  const [row] = await db
    .select({
      id: agentInstances.id,
      userId: agentInstances.userId,
      name: agentInstances.name,
      status: agentInstances.status,
      agentType: agentTypes.name,
      startedAt: agentInstances.startedAt,
      /** What the diff holds, by its md5: the diff itself (up to megabytes) stays in the database. */
      diffKey: diffKeySql,
      present: sql<boolean>`${onlineSql(agentInstances.lastHeartbeatAt, agentInstances.status)}`,
      shared: instanceAccess.access,
      /** It has (or had) a terminal relayed: the page shows the terminal panel. */
      terminal: hasRelaySql,
    })
    .from(agentInstances)
    .innerJoin(agentTypes, eq(agentTypes.id, agentInstances.agentTypeId))
    .leftJoin(
      instanceAccess,
      and(eq(instanceAccess.instanceId, agentInstances.id), eq(instanceAccess.userId, viewerId)),
    )
    .where(eq(agentInstances.id, instanceId))
  if (!row || row.status === 'DELETED') throw instanceNotFound()
  const access: Access | null = row.userId === viewerId ? 'OWNER' : row.shared
  if (!access) throw instanceNotFound()
  const { shared: _, ...instance } = row
  return { ...instance, access }
}

export type InstanceView = Awaited<ReturnType<typeof viewInstance>>

/**
 * Diffs parsed lately, by content key, newest last. Agents send the whole diff again with their
 * messages, and every page view, live update and reply showed or compared it: reading a 1 MB diff
 * took about 11 ms, where its md5, computed in the database, takes about 2. Bounded by the text's
 * length: a parsed diff takes 2.4–2.7 bytes of heap per character of its text (measured on diffs
 * of 2,000 files), so the cache holds at most about 6 MB. A larger diff is parsed each time.
 */
const parsedDiffs = new Map<string, { files: DiffFile[]; chars: number }>()
const PARSED_DIFF_CHARS = 2 * 1024 * 1024
let parsedDiffChars = 0

/** The instance's diff in files (viewInstance first: it checks access and gives the key). */
export async function diffFiles(db: DbOrTx, inst: Pick<InstanceView, 'id' | 'diffKey'>): Promise<DiffFile[]> {
  if (!inst.diffKey) return []
  const kept = parsedDiffs.get(inst.diffKey)
  if (kept) {
    parsedDiffs.delete(inst.diffKey)
    parsedDiffs.set(inst.diffKey, kept)
    return kept.files
  }
  // With its key, read in the same snapshot: the diff may have changed since viewInstance.
  const [row] = await db
    .select({ diff: agentInstances.gitDiff, key: diffKeySql })
    .from(agentInstances)
    .where(eq(agentInstances.id, inst.id))
  if (!row?.diff || !row.key) return []
  const files = parseDiff(row.diff)
  const chars = row.diff.length
  if (chars <= PARSED_DIFF_CHARS && !parsedDiffs.has(row.key)) {
    parsedDiffs.set(row.key, { files, chars })
    parsedDiffChars += chars
    for (const [key, old] of parsedDiffs) {
      if (parsedDiffChars <= PARSED_DIFF_CHARS) break
      parsedDiffs.delete(key)
      parsedDiffChars -= old.chars
    }
  }
  return files
}

const answerer = alias(users, 'answerer')
const author = alias(users, 'author')
const answerMessage = alias(messages, 'answer_message')

function selectMessages(db: DbOrTx, where: SQL | undefined, limit: number, order: 'asc' | 'desc' = 'desc') {
  return db
    .select({
      id: messages.id,
      sender: messages.sender,
      content: messages.content,
      createdAt: messages.createdAt,
      requiresUserInput: messages.requiresUserInput,
      options: messages.options,
      answeredAt: messages.answeredAt,
      answeredVia: messages.answeredVia,
      answeredByName: sql<string | null>`coalesce(${answerer.displayName}, ${answerer.email})`,
      closedReason: sql<string | null>`${messages.metadata}->>'closed_reason'`,
      /** The answer's text: an approval's answered line says "Allowed" or "Denied" by it. */
      answerContent: answerMessage.content,
      /** Whether the answer was a button press (a typed "Allow" denies an approval). */
      answerPressed: sql<boolean>`coalesce(${answerMessage.metadata} ? 'option', false)`,
      channel: messages.channel,
      authorName: sql<string | null>`coalesce(${author.displayName}, ${author.email})`,
      timeoutAt: messages.timeoutAt,
    })
    .from(messages)
    .leftJoin(answerer, eq(answerer.id, messages.answeredBy))
    .leftJoin(author, eq(author.id, messages.senderUserId))
    .leftJoin(answerMessage, eq(answerMessage.id, messages.answerMessageId))
    .where(where)
    .orderBy(order === 'asc' ? asc(messages.id) : desc(messages.id))
    .limit(limit)
}

/** Newest `limit` messages before `before` (all when null), returned oldest first. */
export async function threadPage(
  db: DbOrTx,
  instanceId: string,
  before: string | null,
  limit = THREAD_PAGE_SIZE,
) {
  const where = and(eq(messages.instanceId, instanceId), before ? lt(messages.id, before) : undefined)
  const rows = await selectMessages(db, where, limit + 1)
  const more = rows.length > limit
  const page = rows.slice(0, limit).reverse()
  return { messages: page, olderCursor: more ? (page[0]?.id ?? null) : null }
}

export type ThreadMessage = Awaited<ReturnType<typeof threadPage>>['messages'][number]

/** One message of an instance (for live updates), or null. */
export async function threadMessage(db: DbOrTx, instanceId: string, messageId: string) {
  const [row] = await selectMessages(
    db,
    and(eq(messages.instanceId, instanceId), eq(messages.id, messageId)),
    1,
  )
  return row ?? null
}

/** Moves the viewer's read position forward (never back) to `messageId`. */
export async function markSeen(db: DbOrTx, userId: string, instanceId: string, messageId: string | null) {
  await db
    .insert(instanceReads)
    .values({ userId, instanceId, lastSeenMessageId: messageId })
    .onConflictDoUpdate({
      target: [instanceReads.userId, instanceReads.instanceId],
      set: {
        lastSeenMessageId: sql`greatest(${instanceReads.lastSeenMessageId}, excluded.last_seen_message_id)`,
        seenAt: sql`now()`,
      },
    })
}

/** Messages after `after` (all when null), oldest first: what a reconnecting page missed. */
export async function threadAfter(
  db: DbOrTx,
  instanceId: string,
  after: string | null,
  limit = THREAD_PAGE_SIZE,
) {
  const where = and(eq(messages.instanceId, instanceId), after ? gt(messages.id, after) : undefined)
  return selectMessages(db, where, limit, 'asc')
}
