// Which Parley user a Slack user (team + user id) is. A link is made with a one-time code and
// removed by the person; outbound delivery only uses active links, but an inactive link still
// says who someone is when they write to the bot.
import { and, eq } from 'drizzle-orm'
import type { Db, DbOrTx } from '../db/client.ts'
import { channelLinks } from '../db/schema.ts'
import { dropPendingDeliveries } from './deliveries.ts'
import { consumeLinkCode } from './link-codes.ts'

export type SlackIdentity = { teamId: string; slackUserId: string }

const isSlackUser = (who: SlackIdentity) =>
  and(
    eq(channelLinks.channel, 'slack'),
    eq(channelLinks.teamId, who.teamId),
    eq(channelLinks.externalUserId, who.slackUserId),
  )

const dropPending = (db: DbOrTx, who: SlackIdentity, reason: string) =>
  dropPendingDeliveries(db, { channel: 'slack', target: `${who.teamId}:${who.slackUserId}`, reason })

/** The Parley user behind a Slack user, or null when they have not linked their account. */
export async function slackUser(db: Db, who: SlackIdentity): Promise<string | null> {
  const [row] = await db.select({ userId: channelLinks.userId }).from(channelLinks).where(isSlackUser(who))
  return row?.userId ?? null
}

/**
 * Uses a link code: the Slack user now belongs to the code's owner (replacing any earlier link of
 * that Slack user). Returns the Parley user id, or null when the code is unknown, used or expired.
 */
export async function linkSlackUser(db: Db, who: SlackIdentity, code: string): Promise<string | null> {
  return db.transaction(async (tx) => {
    const userId = await consumeLinkCode(tx, code, 'slack')
    if (!userId) return null
    const [previous] = await tx
      .delete(channelLinks)
      .where(isSlackUser(who))
      .returning({ userId: channelLinks.userId })
    if (previous && previous.userId !== userId) await dropPending(tx, who, 'linked to another user')
    await tx.insert(channelLinks).values({
      userId,
      channel: 'slack',
      teamId: who.teamId,
      externalUserId: who.slackUserId,
    })
    return userId
  })
}

/** Removes the link; true when there was one. */
export async function unlinkSlackUser(db: Db, who: SlackIdentity): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.delete(channelLinks).where(isSlackUser(who)).returning({ id: channelLinks.id })
    await dropPending(tx, who, 'unlinked')
    return rows.length > 0
  })
}
