// The chats a person has linked (Telegram chats, Slack users), as the settings page lists them:
// whether each still receives messages and the last permanent delivery error the bots recorded.
import { and, asc, eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { channelLinks } from '../db/schema.ts'
import { NotFound } from '../errors.ts'
import { dropPendingDeliveries, linkTarget } from './deliveries.ts'

export function listLinkedChannels(db: Db, userId: string) {
  return db
    .select({
      id: channelLinks.id,
      channel: channelLinks.channel,
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

export type LinkedChannel = Awaited<ReturnType<typeof listLinkedChannels>>[number]

/** Removes one of the owner's links; nothing more is sent to that chat. */
export async function unlinkChannel(db: Db, userId: string, linkId: string): Promise<void> {
  await db.transaction(async (tx) => {
    const [link] = await tx
      .delete(channelLinks)
      .where(and(eq(channelLinks.id, linkId), eq(channelLinks.userId, userId)))
      .returning()
    if (!link) throw new NotFound('Link not found')
    await dropPendingDeliveries(tx, { channel: link.channel, target: linkTarget(link), reason: 'unlinked' })
  })
}
