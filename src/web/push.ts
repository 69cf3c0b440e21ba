// Web push over HTTP (DESIGN.md "Web push"): the VAPID public key, a logged-in browser subscribing
// and unsubscribing itself (session cookie and X-CSRF-Token), the settings page removing a device,
// and the answer links notifications carry: POST /push/answer/<token> {"action"} answers the
// question as the subscription's user, via the channel `push`, with no cookie.
import { Elysia } from 'elysia'
import { answerNotice } from '../core/answer-wording.ts'
import { answerQuestion, refusalError } from '../core/answers.ts'
import { answerPath } from '../core/context.ts'
import {
  PUSH,
  parsePushSubscription,
  pushTarget,
  removePushSubscription,
  savePushSubscription,
} from '../core/push-subscriptions.ts'
import { Conflict, Forbidden, InvalidInput, NotFound } from '../errors.ts'
import type { AnswerLinks } from '../notify/push/answer-links.ts'
import type { WebDeps } from './deps.ts'
import { seeOther } from './http.ts'
import { webSession } from './session.ts'

export type PushDeps = { publicKey: string; links: AnswerLinks }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** "Chrome on Android": how the settings page names a device, from its User-Agent. */
export function deviceName(userAgent: string | null): string {
  const ua = userAgent ?? ''
  const browser =
    [
      ['Edge', /Edg\//],
      ['Opera', /OPR\//],
      ['Firefox', /Firefox\//],
      ['Chrome', /Chrome\//],
      ['Safari', /Safari\//],
    ].find(([, re]) => (re as RegExp).test(ua))?.[0] ?? 'Browser'
  const os =
    [
      ['Android', /Android/],
      ['iOS', /iPhone|iPad/],
      ['Windows', /Windows/],
      ['macOS', /Mac OS X/],
      ['Linux', /Linux/],
    ].find(([, re]) => (re as RegExp).test(ua))?.[0] ?? null
  return os ? `${browser} on ${os}` : (browser as string)
}

const json = (body: unknown, status = 200) => Response.json(body, { status })

export function webPush(deps: WebDeps) {
  const { db } = deps.core
  const push = deps.push
  const app = new Elysia({ name: 'parley.web.push' }).use(webSession(deps))
  if (!push) return app
  return app
    .get('/push/key', () => json({ publicKey: push.publicKey }))
    .post(
      '/push/subscriptions',
      async ({ user, body, request }) => {
        const sub = parsePushSubscription(body)
        const id = await savePushSubscription(db, user.id, sub, deviceName(request.headers.get('user-agent')))
        return json({ id, endpoint: sub.endpoint }, 201)
      },
      { auth: true },
    )
    .delete(
      '/push/subscriptions',
      async ({ user, body }) => {
        const endpoint = (body as { endpoint?: unknown } | null)?.endpoint
        if (typeof endpoint !== 'string' || endpoint === '')
          throw new InvalidInput('endpoint', 'endpoint is required')
        if (!(await removePushSubscription(db, { userId: user.id, endpoint })))
          throw new NotFound('No such push subscription')
        return json({ removed: true })
      },
      { auth: true },
    )
    .post(
      '/settings/push/:id/remove',
      async ({ user, params }) => {
        if (!UUID.test(params.id) || !(await removePushSubscription(db, { userId: user.id, id: params.id })))
          throw new NotFound('Device not found')
        return seeOther('/settings?done=device-removed#devices')
      },
      { auth: true },
    )
    .post('/push/answer/:token', async ({ params, body }) => {
      const claims = await push.links.verify(params.token)
      if (!claims) throw new Forbidden('This answer link is invalid or has expired')
      const target = UUID.test(claims.subscriptionId)
        ? await pushTarget(answerPath(deps.core), claims.subscriptionId)
        : null
      if (!target) throw new Forbidden('This device no longer receives notifications')
      const action = (body as { action?: unknown } | null)?.action
      if (typeof action !== 'string' || !claims.actions.includes(action)) {
        const offered = claims.actions.map((a) => JSON.stringify(a)).join(', ') || 'none'
        throw new InvalidInput('action', `action must be one of the notification’s actions (${offered})`)
      }
      const outcome = await answerQuestion(deps.core, {
        actorUserId: target.userId,
        questionId: claims.questionId,
        channel: PUSH,
        answer: { option: Number(action) },
        allowShared: true,
      })
      if (outcome.status === 'refused') throw refusalError(outcome)
      if (outcome.status !== 'answered') throw new Conflict(answerNotice(outcome) ?? 'Already answered')
      return json({ answered: true, answer: outcome.answer })
    })
}
