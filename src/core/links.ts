// Chats linked to Parley users: one-time link codes, linking, unlinking, who a chat belongs to,
// the links a person has, the questions open in a chat, and what a chat copy is (a question's, or
// an instance's status message). Every chat channel (Telegram, Slack, any channel added later)
// goes through these, addressing a chat by its channel name and its delivery target (the string
// the channel itself chose when linking), so nothing here knows how a channel addresses its chats.
import { and, asc, eq, gt, isNull, type SQL, sql } from 'drizzle-orm'
import { sha256 } from '../auth/api-keys.ts'
import { type Db, type DbOrTx, resultRows, type Tx } from '../db/client.ts'
import { channelLinks, linkCodes } from '../db/schema.ts'
import { dropPendingDeliveries } from './deliveries.ts'
import { openQuestionSql } from './open-questions.ts'
import { parseQuestion } from './questions.ts'

/** A chat as its channel addresses it; the external ids are kept for people reading the table. */
export type ChatAddress = {
  channel: string
  /** Where deliveries for this chat go (Telegram: the chat id; Slack: "team:user"). */
  target: string
  chatId?: string | null
  teamId?: string | null
  externalUserId?: string | null
}

export const LINK_CODE_TTL_MS = 15 * 60 * 1000
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789' // no 0/O, 1/I: read aloud and typed on phones

/** A one-time code that links a chat of `channel` to the user; only its sha256 is stored. */
export async function createLinkCode(db: Db, userId: string, channel: string): Promise<string> {
  const bytes = crypto.getRandomValues(new Uint8Array(10))
  const code = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('')
  await db.insert(linkCodes).values({
    codeHash: sha256(code),
    userId,
    channel,
    expiresAt: new Date(Date.now() + LINK_CODE_TTL_MS),
  })
  return code
}

/** Uses a code: returns its user once, then never again (atomic). */
export async function consumeLinkCode(db: DbOrTx, code: string, channel: string): Promise<string | null> {
  const [row] = await db
    .update(linkCodes)
    .set({ usedAt: sql`now()` })
    .where(
      and(
        eq(linkCodes.codeHash, sha256(code.trim().toUpperCase())),
        eq(linkCodes.channel, channel),
        isNull(linkCodes.usedAt),
        gt(linkCodes.expiresAt, sql`now()`),
      ),
    )
    .returning({ userId: linkCodes.userId })
  return row?.userId ?? null
}

const isChat = (chat: { channel: string; target: string }) =>
  and(eq(channelLinks.channel, chat.channel), eq(channelLinks.target, chat.target))

/**
 * Links the chat to the user owning a one-time code. A chat belongs to one user at a time:
 * relinking moves it, and what was on its way to the previous user is dropped. Returns the user
 * id, or null when the code is unknown, used or expired (nothing changes then).
 */
export async function linkChat(db: Db, code: string, chat: ChatAddress): Promise<string | null> {
  return db.transaction(async (tx) => {
    const userId = await consumeLinkCode(tx, code, chat.channel)
    if (!userId) return null
    await attachChat(tx, userId, chat)
    return userId
  })
}

/**
 * Links the chat to a user already known to own it (a browser subscribing from a logged-in page),
 * moving it from anyone it was linked to before; what was on its way to them is dropped.
 */
export async function attachChat(tx: Tx, userId: string, chat: ChatAddress): Promise<void> {
  const [previous] = await tx
    .delete(channelLinks)
    .where(isChat(chat))
    .returning({ userId: channelLinks.userId })
  if (previous && previous.userId !== userId) {
    await dropPendingDeliveries(tx, { ...chat, reason: 'linked to another user' })
  }
  await tx.insert(channelLinks).values({
    userId,
    channel: chat.channel,
    target: chat.target,
    chatId: chat.chatId ?? null,
    teamId: chat.teamId ?? null,
    externalUserId: chat.externalUserId ?? null,
  })
}

/**
 * Removes a link, named by the chat (the person unlinks from the chat) or by its id and owner
 * (the settings page). Copies still waiting for that chat are never sent. True when there was one.
 */
export async function unlink(
  db: Db,
  link: { channel: string; target: string } | { userId: string; id: string },
): Promise<boolean> {
  return db.transaction((tx) =>
    removeLinks(
      tx,
      'id' in link ? and(eq(channelLinks.id, link.id), eq(channelLinks.userId, link.userId)) : isChat(link),
    ),
  )
}

/** Inside a transaction: removes the chat's link; copies still waiting for it are never sent. */
export const unlinkChat = (tx: Tx, chat: { channel: string; target: string }) => removeLinks(tx, isChat(chat))

async function removeLinks(tx: Tx, where: SQL | undefined): Promise<boolean> {
  const gone = await tx
    .delete(channelLinks)
    .where(where)
    .returning({ channel: channelLinks.channel, target: channelLinks.target })
  for (const chat of gone) await dropPendingDeliveries(tx, { ...chat, reason: 'unlinked' })
  return gone.length > 0
}

/** The chat is gone or blocked the bot: stop using its link and drop what was waiting for it. */
export async function deactivateLink(tx: Tx, chat: { channel: string; target: string }, error: string) {
  await tx.update(channelLinks).set({ active: false, lastError: error }).where(isChat(chat))
  await dropPendingDeliveries(tx, { ...chat, reason: error })
}

/**
 * Turns a deactivated link back on (the settings page, once the person unblocked the bot or the
 * chat is back): new copies go there again; what was dropped while it was off stays dropped.
 * Only the link's owner can; true when the link exists and is theirs.
 */
export async function reactivateLink(db: Db, link: { userId: string; id: string }): Promise<boolean> {
  const rows = await db
    .update(channelLinks)
    .set({ active: true, lastError: null })
    .where(and(eq(channelLinks.id, link.id), eq(channelLinks.userId, link.userId)))
    .returning({ id: channelLinks.id })
  return rows.length > 0
}

/**
 * Who a chat belongs to, and whether its link still receives messages. An inactive link still
 * says who someone is; a channel decides whether that is enough for what they asked.
 */
export async function linkedUser(
  db: Db,
  chat: { channel: string; target: string },
): Promise<{ userId: string; active: boolean } | null> {
  const [row] = await db
    .select({ userId: channelLinks.userId, active: channelLinks.active })
    .from(channelLinks)
    .where(isChat(chat))
    .limit(1)
  return row ?? null
}

/** The chats a person has linked, as the settings page lists them, oldest first. */
export function listLinks(db: Db, userId: string) {
  return db
    .select({
      id: channelLinks.id,
      channel: channelLinks.channel,
      target: channelLinks.target,
      chatId: channelLinks.chatId,
      teamId: channelLinks.teamId,
      externalUserId: channelLinks.externalUserId,
      active: channelLinks.active,
      lastError: channelLinks.lastError,
      createdAt: channelLinks.createdAt,
    })
    .from(channelLinks)
    .where(eq(channelLinks.userId, userId))
    .orderBy(asc(channelLinks.createdAt))
}

export type LinkedChannel = Awaited<ReturnType<typeof listLinks>>[number]

export type OpenQuestion = {
  id: string
  instanceId: string
  instanceName: string | null
  agentType: string
  /** The message as the agent wrote it, and the question's text without its option markup. */
  content: string
  question: string
  options: string[] | null
  createdAt: string
}

/**
 * Unanswered questions the user may answer (own instances and WRITE-shared ones), oldest first;
 * with `chat`, only those whose copy went to that chat.
 */
export async function openQuestions(
  db: Db,
  who: { userId: string; chat?: { channel: string; target: string } },
): Promise<OpenQuestion[]> {
  const inChat: SQL = who.chat
    ? sql`and exists (select 1 from deliveries d where d.message_id = m.id and d.kind = 'question'
        and d.channel = ${who.chat.channel} and d.target = ${who.chat.target} and d.state in ('pending', 'sent'))`
    : sql``
  const rows = resultRows<Omit<OpenQuestion, 'question'> & { createdAt: string | Date }>(
    await db.execute(sql`
      select m.id, m.instance_id as "instanceId", i.name as "instanceName", t.name as "agentType",
        m.content, m.options, m.created_at as "createdAt"
      from messages m
      join agent_instances i on i.id = m.instance_id
      join agent_types t on t.id = i.agent_type_id
      where ${openQuestionSql('m')} and i.status <> 'DELETED'
        and (i.user_id = ${who.userId} or exists (select 1 from instance_access a
          where a.instance_id = i.id and a.user_id = ${who.userId} and a.access = 'WRITE'))
        ${inChat}
      order by m.id
      limit 50`),
  )
  return rows.map((r) => ({
    ...r,
    question: parseQuestion(r.content, r.options).text,
    createdAt: new Date(r.createdAt).toISOString(),
  }))
}

/** A chat copy Parley sent: a question's copy (with its question) or an instance's status message. */
export type ChatCopy = {
  instanceId: string
  instanceName: string | null
  agentType: string
  /** Null for a status (progress) message. */
  questionId: string | null
}

/**
 * What a chat copy is, by its external ref (Slack channel + ts, Telegram chat_id + message_id): the
 * question it asks, or the instance whose status it shows. A reply to it is meant for that instance.
 */
export async function copyOf(
  db: Db,
  channel: string,
  ref: Record<string, string | number>,
): Promise<ChatCopy | null> {
  const [row] = resultRows<ChatCopy>(
    await db.execute(sql`
      select i.id as "instanceId", i.name as "instanceName", t.name as "agentType",
        case when d.kind = 'question' then d.message_id end as "questionId"
      from deliveries d
      join messages m on m.id = d.message_id
      join agent_instances i on i.id = m.instance_id
      join agent_types t on t.id = i.agent_type_id
      where d.channel = ${channel} and d.kind in ('question', 'progress')
        and d.external_ref @> ${JSON.stringify(ref)}::jsonb
      limit 1`),
  )
  return row ?? null
}

/** The question a chat copy belongs to, by the copy's external ref (e.g. Slack channel + ts). */
export async function questionOfCopy(db: Db, channel: string, ref: Record<string, string>) {
  return (await copyOf(db, channel, ref))?.questionId ?? null
}
