// Chat accounts linked to Parley users (a Telegram chat, a Slack user), and the updates already
// handled from them. Chat adapters call these with plain ids; nothing here knows a chat library.
import { and, eq, sql } from 'drizzle-orm'
import { type Db, resultRows } from '../db/client.ts'
import { channelLinks, processedUpdates } from '../db/schema.ts'
import { dropPendingDeliveries } from './deliveries.ts'
import { consumeLinkCode, type LinkChannel } from './link-codes.ts'

/**
 * Links a Telegram chat to the user owning a one-time code. Returns the user id, or null when
 * the code is unknown, used or expired (nothing changes then).
 */
export async function linkTelegramChat(db: Db, code: string, chatId: string): Promise<string | null> {
  const userId = await consumeLinkCode(db, code, 'telegram')
  if (!userId) return null
  await db.transaction(async (tx) => {
    // A chat belongs to one user at a time: relinking moves it, and drops what was on its way.
    await tx
      .delete(channelLinks)
      .where(and(eq(channelLinks.channel, 'telegram'), eq(channelLinks.chatId, chatId)))
    await dropPendingDeliveries(tx, {
      channel: 'telegram',
      target: chatId,
      reason: 'chat linked to another account',
    })
    await tx.insert(channelLinks).values({ userId, channel: 'telegram', chatId })
  })
  return userId
}

/** Removes the chat's link; returns whether there was one. */
export async function unlinkChat(db: Db, channel: LinkChannel, chatId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const gone = await tx
      .delete(channelLinks)
      .where(and(eq(channelLinks.channel, channel), eq(channelLinks.chatId, chatId)))
      .returning({ id: channelLinks.id })
    await dropPendingDeliveries(tx, { channel, target: chatId, reason: 'unlinked' })
    return gone.length > 0
  })
}

/** The user an active chat link belongs to. */
export async function userForChat(db: Db, channel: LinkChannel, chatId: string): Promise<string | null> {
  const [row] = await db
    .select({ userId: channelLinks.userId })
    .from(channelLinks)
    .where(
      and(eq(channelLinks.channel, channel), eq(channelLinks.chatId, chatId), eq(channelLinks.active, true)),
    )
  return row?.userId ?? null
}

/** Records an incoming update; false if it was seen before (a retry), so it has one effect. */
export async function firstTimeSeen(db: Db, source: string, externalId: string): Promise<boolean> {
  const rows = await db
    .insert(processedUpdates)
    .values({ source, externalId })
    .onConflictDoNothing()
    .returning({ id: processedUpdates.externalId })
  return rows.length > 0
}

/** Forgets handled updates older than `days`: senders stop retrying long before that. */
export async function pruneProcessedUpdates(db: Db, source: string, days = 7): Promise<void> {
  await db.execute(sql`
    delete from processed_updates
    where source = ${source} and created_at < now() - make_interval(days => ${days})`)
}

export type OpenQuestion = {
  id: string
  instanceId: string
  content: string
  options: string[] | null
  agentType: string
  instanceName: string | null
}

/** Unanswered questions whose copy went to this chat target, oldest first. */
export async function openQuestionsInChat(db: Db, channel: string, target: string): Promise<OpenQuestion[]> {
  return resultRows<OpenQuestion>(
    await db.execute(sql`
      select m.id, m.instance_id as "instanceId", m.content, m.options, t.name as "agentType",
        i.name as "instanceName"
      from deliveries d
      join messages m on m.id = d.message_id
      join agent_instances i on i.id = m.instance_id
      join agent_types t on t.id = i.agent_type_id
      where d.channel = ${channel} and d.target = ${target} and d.kind = 'question'
        and d.state in ('pending', 'sent') and m.answered_at is null
        and (m.timeout_at is null or m.timeout_at > now()) and i.status <> 'DELETED'
      order by m.id`),
  )
}

/** Instances the user owns or may write to that are still running. */
export async function activeInstances(db: Db, userId: string) {
  return resultRows<{ id: string; name: string | null; agentType: string; status: string }>(
    await db.execute(sql`
      select i.id, i.name, t.name as "agentType", i.status
      from agent_instances i join agent_types t on t.id = i.agent_type_id
      where i.status in ('ACTIVE', 'AWAITING_INPUT')
        and (i.user_id = ${userId} or i.id in (
          select instance_id from instance_access where user_id = ${userId} and access = 'WRITE'))
      order by i.last_activity_at desc
      limit 20`),
  )
}

/**
 * A question's instance and whether (and by whom, how) it was answered; null when it does not
 * exist or `userId` may not see it (neither its owner nor shared with).
 */
export async function questionStatus(db: Db, questionId: string, userId: string) {
  const [row] = resultRows<{
    instanceId: string
    answered: boolean
    by: string | null
    via: string | null
    options: string[] | null
  }>(
    await db.execute(sql`
      select m.instance_id as "instanceId", m.answered_at is not null as answered,
        coalesce(u.display_name, u.email) as by, m.answered_via as via, m.options
      from messages m left join users u on u.id = m.answered_by
      where m.id = ${questionId} and m.sender = 'AGENT' and m.requires_user_input
        and (m.user_id = ${userId} or exists (select 1 from instance_access a
          where a.instance_id = m.instance_id and a.user_id = ${userId}))`),
  )
  return row ?? null
}
