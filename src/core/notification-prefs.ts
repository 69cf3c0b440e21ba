// Reading and changing users.notification_prefs, the format the outbox reads (documented at the
// top of core/deliveries.ts). Every value is checked before anything is written, so a bad value
// changes nothing and its error names the field.
import { eq, type SQL, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { users } from '../db/schema.ts'
import { InvalidInput, NotFound } from '../errors.ts'
import { chatChannels } from './chat-channels.ts'

/** Per chat channel (by its name): whether it gets copies of questions, and of progress. */
export type NotificationPrefs = {
  questions: Record<string, boolean>
  progress: Record<string, boolean>
  quiet: { start: string; end: string } | null
}

/** What a channel gets when the person has not said: every question, no progress. */
export const PREF_DEFAULTS = { questions: true, progress: false } as const
export type PrefKind = keyof typeof PREF_DEFAULTS

/** Whether stored prefs turn `kind` on for `channel`, the default filled in (what the outbox obeys). */
export function prefOn(raw: unknown, kind: PrefKind, channel: string): boolean {
  const value = (raw as Stored | null)?.[kind]?.[channel]
  return typeof value === 'boolean' ? value : PREF_DEFAULTS[kind]
}

/** The same rule in SQL, for the prefs jsonb and channel expressions of the statement it sits in. */
export const prefOnSql = (prefs: SQL, kind: PrefKind, channel: SQL): SQL =>
  sql`coalesce((${prefs}->'${sql.raw(kind)}'->>${channel})::boolean, ${sql.raw(String(PREF_DEFAULTS[kind]))})`

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/

type Stored = {
  questions?: Record<string, unknown>
  progress?: Record<string, unknown>
  quiet?: { start?: unknown; end?: unknown }
}

/** The chat channels a person sets prefs for: every one the wiring described (chat-channels.ts). */
export const prefChannels = (): string[] => chatChannels().map((c) => c.channel)

/**
 * Stored prefs with the outbox's defaults filled in (questions on, progress off, no quiet hours),
 * for each of `channels`.
 */
export function withDefaults(raw: unknown, channels: readonly string[] = prefChannels()): NotificationPrefs {
  const stored = (raw && typeof raw === 'object' ? raw : {}) as Stored
  const pick = (kind: PrefKind) => Object.fromEntries(channels.map((c) => [c, prefOn(stored, kind, c)]))
  const start = stored.quiet?.start
  const end = stored.quiet?.end
  return {
    questions: pick('questions'),
    progress: pick('progress'),
    quiet: typeof start === 'string' && typeof end === 'string' ? { start, end } : null,
  }
}

/** Checks quiet hours given as two HH:MM texts (both empty: none). */
export function parseQuietHours(start: string, end: string): NotificationPrefs['quiet'] {
  if (start === '' && end === '') return null
  if (start === '') throw new InvalidInput('quiet.start', 'quiet.start is required when quiet.end is set')
  if (end === '') throw new InvalidInput('quiet.end', 'quiet.end is required when quiet.start is set')
  if (!TIME.test(start))
    throw new InvalidInput('quiet.start', 'quiet.start must be a time of day as HH:MM (00:00–23:59)')
  if (!TIME.test(end))
    throw new InvalidInput('quiet.end', 'quiet.end must be a time of day as HH:MM (00:00–23:59)')
  if (start === end) throw new InvalidInput('quiet.end', 'quiet.end must differ from quiet.start')
  return { start, end }
}

export async function getNotificationPrefs(db: Db, userId: string): Promise<NotificationPrefs> {
  const [row] = await db.select({ prefs: users.notificationPrefs }).from(users).where(eq(users.id, userId))
  if (!row) throw new NotFound('User not found')
  return withDefaults(row.prefs)
}

/** Saves the prefs; a channel they do not name (one the form does not show) keeps what it had. */
export async function setNotificationPrefs(db: Db, userId: string, prefs: NotificationPrefs): Promise<void> {
  const group = (kind: PrefKind) =>
    sql`coalesce(${users.notificationPrefs}->'${sql.raw(kind)}', '{}'::jsonb) || ${JSON.stringify(prefs[kind])}::jsonb`
  const quiet = prefs.quiet ? sql`, 'quiet', ${JSON.stringify(prefs.quiet)}::jsonb` : sql``
  await db
    .update(users)
    .set({
      notificationPrefs: sql`jsonb_build_object('questions', ${group('questions')}, 'progress', ${group('progress')}${quiet})`,
    })
    .where(eq(users.id, userId))
}
