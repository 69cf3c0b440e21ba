// /settings: API keys (created and shown once, listed, revoked), linked chats (listed with their
// delivery state, unlinked, link codes made), notification preferences. Forms post here and
// redirect back; a new key or code is rendered in the post's answer because it is shown once.
import { Elysia } from 'elysia'
import { type JustCreated, SettingsPage } from '../../views/settings.tsx'
import { createApiKey, listApiKeys, revokeApiKey } from '../auth/api-keys.ts'
import {
  listWebSessions,
  revokeOtherWebSessions,
  revokeWebSession,
  type SessionUser,
  type WebSession,
} from '../auth/web-sessions.ts'
import { chatChannels } from '../core/chat-channels.ts'
import { createLinkCode, listLinks, reactivateLink, unlink } from '../core/links.ts'
import {
  getNotificationPrefs,
  type NotificationPrefs,
  parseQuietHours,
  prefChannels,
  setNotificationPrefs,
} from '../core/notification-prefs.ts'
import { setDisplayName } from '../core/profile.ts'
import { listPushSubscriptions, PUSH } from '../core/push-subscriptions.ts'
import { AppError, InvalidInput, NotFound } from '../errors.ts'
import { statusOf } from '../http/errors.ts'
import type { WebDeps } from './deps.ts'
import { field, htmlResponse, lookup, seeOther } from './http.ts'
import { webSession } from './session.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const MAX_KEY_NAME = 100

const DONE: Record<string, string> = {
  'key-revoked': 'Key revoked. Agents using it are refused from now on.',
  unlinked: 'Chat unlinked. Parley sends nothing more there.',
  reactivated: 'Chat active again. New questions are sent there.',
  'notifications-saved': 'Notification settings saved.',
  'profile-saved': 'Display name saved.',
  'session-ended': 'Session ended. That browser has to log in again.',
  'device-removed': 'Device removed. Parley sends it no more notifications.',
}

/** A checkbox: present as "on" or absent; anything else is a bad request naming the field. */
function checkbox(body: unknown, name: string, fieldName: string): boolean {
  const value = field(body, name)
  if (value === '') return false
  if (value !== 'on') throw new InvalidInput(fieldName, `${fieldName} must be on or left out`)
  return true
}

export function prefsFromForm(body: unknown): NotificationPrefs {
  const group = (g: 'questions' | 'progress') =>
    Object.fromEntries(prefChannels().map((c) => [c, checkbox(body, `${g}_${c}`, `${g}.${c}`)]))
  return {
    questions: group('questions'),
    progress: group('progress'),
    quiet: parseQuietHours(field(body, 'quiet_start'), field(body, 'quiet_end')),
  }
}

type Ctx = { user: SessionUser; session: WebSession; csrfToken: string }

export function webSettings(deps: WebDeps) {
  const { db, bus } = deps.core
  const telegramBot = deps.telegramBotUsername?.replace(/^@/, '') || null

  const page = async (
    ctx: Ctx,
    extra: { notice?: string | null; error?: string | null; created?: JustCreated } = {},
    status = 200,
  ) => {
    const [keys, links, prefs, sessions, devices] = await Promise.all([
      listApiKeys(db, ctx.user.id),
      listLinks(db, ctx.user.id),
      getNotificationPrefs(db, ctx.user.id),
      listWebSessions(db, ctx.user.id),
      listPushSubscriptions(db, ctx.user.id),
    ])
    const { user, csrfToken } = ctx
    const current = ctx.session.id
    return htmlResponse(
      SettingsPage({
        user,
        csrfToken,
        keys,
        // Subscribed browsers are listed as devices, not as chats.
        links: links.filter((l) => l.channel !== PUSH),
        devices,
        prefs,
        channels: chatChannels(),
        sessions,
        current,
        telegramBot,
        ...extra,
      }),
      status,
    )
  }

  /** Runs a change; a named error re-renders the page with its message and status, unchanged. */
  const attempt = async (ctx: Ctx, change: () => Promise<Response>) => {
    try {
      return await change()
    } catch (err) {
      if (err instanceof AppError && statusOf(err) < 500)
        return page(ctx, { error: err.message }, statusOf(err))
      throw err
    }
  }

  return new Elysia({ name: 'parley.web.settings' })
    .use(webSession(deps))
    .get('/settings', (ctx) => page(ctx, { notice: lookup(DONE, String(ctx.query.done ?? '')) ?? null }), {
      auth: true,
    })
    .post(
      '/settings/keys',
      (ctx) =>
        attempt(ctx, async () => {
          const name = field(ctx.body, 'name')
          if (name === '') throw new InvalidInput('name', 'Key name is required')
          if (name.length > MAX_KEY_NAME)
            throw new InvalidInput('name', `Key name must be at most ${MAX_KEY_NAME} characters`)
          const { key } = await createApiKey(db, { userId: ctx.user.id, name })
          return page(ctx, { created: { kind: 'key', name, key } }, 201)
        }),
      { auth: true },
    )
    .post(
      '/settings/keys/:id/revoke',
      (ctx) =>
        attempt(ctx, async () => {
          if (!UUID.test(ctx.params.id)) throw new NotFound('API key not found')
          await revokeApiKey(db, bus, ctx.params.id, ctx.user.id)
          return seeOther('/settings?done=key-revoked#keys')
        }),
      { auth: true },
    )
    .post(
      '/settings/links/:id/unlink',
      (ctx) =>
        attempt(ctx, async () => {
          if (!UUID.test(ctx.params.id) || !(await unlink(db, { userId: ctx.user.id, id: ctx.params.id })))
            throw new NotFound('Link not found')
          return seeOther('/settings?done=unlinked#channels')
        }),
      { auth: true },
    )
    .post(
      '/settings/links/:id/reactivate',
      (ctx) =>
        attempt(ctx, async () => {
          const mine = { userId: ctx.user.id, id: ctx.params.id }
          if (!UUID.test(ctx.params.id) || !(await reactivateLink(db, mine)))
            throw new NotFound('Link not found')
          return seeOther('/settings?done=reactivated#channels')
        }),
      { auth: true },
    )
    .post(
      '/settings/links/code',
      (ctx) =>
        attempt(ctx, async () => {
          const channel = field(ctx.body, 'channel')
          if (channel !== 'telegram' && channel !== 'slack')
            throw new InvalidInput('channel', 'channel must be telegram or slack')
          const code = await createLinkCode(db, ctx.user.id, channel)
          const deepLink =
            channel === 'telegram' && telegramBot ? `https://t.me/${telegramBot}?start=${code}` : null
          return page(ctx, { created: { kind: 'code', channel, code, deepLink } }, 201)
        }),
      { auth: true },
    )
    .post(
      '/settings/sessions/:id/revoke',
      (ctx) =>
        attempt(ctx, async () => {
          if (!UUID.test(ctx.params.id) || ctx.params.id === ctx.session.id)
            throw new NotFound('Session not found')
          if (!(await revokeWebSession(db, ctx.params.id, ctx.user.id)))
            throw new NotFound('Session not found')
          return seeOther('/settings?done=session-ended#sessions')
        }),
      { auth: true },
    )
    .post(
      '/settings/sessions/revoke-others',
      async (ctx) => {
        await revokeOtherWebSessions(db, ctx.user.id, ctx.session.id)
        return seeOther('/settings?done=session-ended#sessions')
      },
      { auth: true },
    )
    .post(
      '/settings/profile',
      (ctx) =>
        attempt(ctx, async () => {
          await setDisplayName(db, ctx.user.id, field(ctx.body, 'display_name'))
          return seeOther('/settings?done=profile-saved#profile')
        }),
      { auth: true },
    )
    .post(
      '/settings/notifications',
      (ctx) =>
        attempt(ctx, async () => {
          await setNotificationPrefs(db, ctx.user.id, prefsFromForm(ctx.body))
          return seeOther('/settings?done=notifications-saved#notifications')
        }),
      { auth: true },
    )
}
