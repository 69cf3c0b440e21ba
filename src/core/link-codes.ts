// One-time codes that link a Telegram chat or a Slack user to a Parley user. Only the code's
// sha256 is stored; a code works once, for 15 minutes.
import { and, eq, gt, isNull, sql } from 'drizzle-orm'
import { sha256 } from '../auth/api-keys.ts'
import type { Db, DbOrTx } from '../db/client.ts'
import { linkCodes } from '../db/schema.ts'

export type LinkChannel = 'telegram' | 'slack'
export const LINK_CODE_TTL_MS = 15 * 60 * 1000
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789' // no 0/O, 1/I: read aloud and typed on phones

export async function createLinkCode(db: Db, userId: string, channel: LinkChannel): Promise<string> {
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
export async function consumeLinkCode(
  db: DbOrTx,
  code: string,
  channel: LinkChannel,
): Promise<string | null> {
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
