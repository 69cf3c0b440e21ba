// /instances/:id — the thread, older pages, replies and option buttons, and the owner's actions.
// Forms work without JavaScript (post, then 303 back to the page); with htmx the reply box swaps
// itself and the new message arrives over SSE. A refused change re-renders the page with the
// reason and an honest status, and changes nothing. Other people's instances are 404.
import { Elysia } from 'elysia'
import { DIFF_PAGE_FILES, DiffPage } from '../../views/diff.tsx'
import { NotFoundPage } from '../../views/errors.tsx'
import { AnswerNotice, InstancePage, instanceTitle, RefusedPage, ReplyForm } from '../../views/instance.tsx'
import { OlderPage } from '../../views/thread.tsx'
import type { SessionUser } from '../auth/web-sessions.ts'
import { answerNotice } from '../core/answer-wording.ts'
import { answerQuestion, refusalError } from '../core/answers.ts'
import { answerPath, type Core, MAX_CONTENT_CHARS } from '../core/context.ts'
import { failedDeliveries } from '../core/deliveries.ts'
import {
  completeInstance,
  deleteInstance,
  parseShareAccess,
  renameInstance,
  sharedWith,
  shareInstance,
} from '../core/instance-admin.ts'
import { diffFiles, markSeen, threadPage, viewInstance } from '../core/thread.ts'
import { canonicalUuid } from '../core/wire.ts'
import { AppError, InvalidInput, NotFound } from '../errors.ts'
import { statusOf } from '../http/errors.ts'
import type { WebDeps } from './deps.ts'
import { field, htmlResponse, isHtmx, lookup, seeOther } from './http.ts'
import { webSession } from './session.ts'

type Ctx = { user: SessionUser; csrfToken: string; request: Request }

const DONE: Record<string, string> = {
  replied: 'Reply sent.',
  renamed: 'Renamed.',
  completed: 'Marked complete.',
  shared: 'Shared.',
}

/** A typed reply as the person wrote it, refused when empty or too long. */
function replyText(content: string): string {
  if (content.trim() === '') throw new InvalidInput('content', 'Reply must not be empty')
  if (content.length > MAX_CONTENT_CHARS) {
    throw new InvalidInput('content', `Reply must be at most ${MAX_CONTENT_CHARS} characters`)
  }
  return content
}

/** An option button's value: the option's index. */
function optionIndex(raw: string): number {
  if (!/^\d{1,3}$/.test(raw)) throw new InvalidInput('option', 'option must be an option number')
  return Number(raw)
}

export function instanceId(raw: string): string {
  const id = canonicalUuid(raw)
  if (!id) throw new InvalidInput('id', 'Instance id must be a UUID')
  return id
}

/** The owner's actions: each changes the instance and names the notice to show afterwards. */
export const OWNER_ACTIONS: Record<
  string,
  (core: Core, userId: string, id: string, body: unknown) => Promise<string>
> = {
  rename: async (core, userId, id, body) => {
    await renameInstance(core, userId, id, field(body, 'name'))
    return 'renamed'
  },
  complete: async (core, userId, id) => {
    await completeInstance(core, userId, id)
    return 'completed'
  },
  delete: async (core, userId, id) => {
    await deleteInstance(core, userId, id)
    return 'deleted'
  },
  share: async (core, userId, id, body) => {
    const access = parseShareAccess(field(body, 'access'))
    await shareInstance(core, userId, id, { email: field(body, 'email'), access })
    return 'shared'
  },
}

export function webInstance(deps: WebDeps) {
  const { core } = deps

  const page = async (
    ctx: Ctx,
    rawId: string,
    opts: {
      before?: string
      notice?: string | null
      warning?: string | null
      error?: string | null
      draft?: string
    } = {},
    status = 200,
  ) => {
    const id = instanceId(rawId)
    const inst = await viewInstance(core.db, ctx.user.id, id)
    const before = opts.before ? canonicalUuid(opts.before) : null
    if (opts.before && !before) throw new InvalidInput('before', 'before must be a message id')
    const owner = inst.access === 'OWNER'
    const [thread, shared, failed, diff] = await Promise.all([
      threadPage(core.db, id, before),
      owner ? sharedWith(core, id) : [],
      owner ? failedDeliveries(core.db, id) : [],
      diffFiles(core.db, inst),
    ])
    const last = thread.messages.at(-1)
    if (last && !before) await markSeen(core.db, ctx.user.id, id, last.id)
    const props = { user: ctx.user, csrfToken: ctx.csrfToken, inst, ...thread, shared, failed, ...opts }
    return htmlResponse(InstancePage({ ...props, paged: Boolean(before), diff }), status)
  }

  /** Runs a change; a named error shows the page again with the reason, nothing changed. */
  const attempt = async (ctx: Ctx, rawId: string, change: () => Promise<Response>, draft?: string) => {
    try {
      return await change()
    } catch (err) {
      if (!(err instanceof AppError) || statusOf(err) >= 500) throw err
      if (err instanceof NotFound) return notFound(ctx)
      if (isHtmx(ctx.request) && draft !== undefined) {
        const inst = await viewInstance(core.db, ctx.user.id, instanceId(rawId))
        return htmlResponse(
          ReplyForm({ inst, csrfToken: ctx.csrfToken, error: err.message, draft }),
          statusOf(err),
        )
      }
      try {
        return await page(ctx, rawId, { error: err.message, draft }, statusOf(err))
      } catch (inner) {
        if (inner instanceof NotFound) return notFound(ctx)
        if (inner instanceof AppError) {
          return htmlResponse(RefusedPage({ ...ctx, message: inner.message }), statusOf(inner))
        }
        throw inner
      }
    }
  }

  const notFound = (ctx: Ctx) => htmlResponse(NotFoundPage({ user: ctx.user, csrfToken: ctx.csrfToken }), 404)
  const back = (id: string, done: string) => seeOther(`/instances/${id}?done=${done}#latest`)

  return new Elysia({ name: 'parley.web.instance' })
    .use(webSession(deps))
    .get(
      '/instances/:id',
      (ctx) =>
        attempt(ctx, ctx.params.id, () =>
          page(ctx, ctx.params.id, {
            before: typeof ctx.query.before === 'string' ? ctx.query.before : undefined,
            notice: lookup(DONE, String(ctx.query.done ?? '')) ?? null,
          }),
        ),
      { auth: true },
    )
    .get(
      '/instances/:id/diff',
      (ctx) =>
        attempt(ctx, ctx.params.id, async () => {
          const id = instanceId(ctx.params.id)
          const inst = await viewInstance(core.db, ctx.user.id, id)
          const files = await diffFiles(core.db, inst)
          const raw = String(ctx.query.page ?? '0')
          const page = /^\d{1,6}$/.test(raw) ? Number(raw) : -1
          if (page < 0 || (page > 0 && page * DIFF_PAGE_FILES >= files.length)) {
            throw new InvalidInput('page', 'page must be a page number of this diff')
          }
          return htmlResponse(DiffPage({ ...ctx, instanceId: id, title: instanceTitle(inst), files, page }))
        }),
      { auth: true },
    )
    .get(
      '/instances/:id/messages',
      (ctx) =>
        attempt(ctx, ctx.params.id, async () => {
          const id = instanceId(ctx.params.id)
          const inst = await viewInstance(core.db, ctx.user.id, id)
          const before = canonicalUuid(String(ctx.query.before ?? ''))
          if (!before) throw new InvalidInput('before', 'before must be a message id')
          const older = await threadPage(core.db, id, before)
          return htmlResponse(
            OlderPage({ ...older, instanceId: id, access: inst.access, csrfToken: ctx.csrfToken }),
          )
        }),
      { auth: true },
    )
    .post(
      '/instances/:id/reply',
      (ctx) => {
        const body = ctx.body as Record<string, unknown> | null
        const content = typeof body?.content === 'string' ? body.content : ''
        const rawOption = field(body, 'option')
        return attempt(
          ctx,
          ctx.params.id,
          async () => {
            const id = instanceId(ctx.params.id)
            const answer = rawOption ? { option: optionIndex(rawOption) } : { text: replyText(content) }
            const rawQuestion = field(body, 'question_id')
            const questionId = rawQuestion ? canonicalUuid(rawQuestion) : null
            if (rawQuestion && !questionId)
              throw new InvalidInput('question_id', 'question_id must be a message id')
            if ('option' in answer && !questionId)
              throw new InvalidInput('question_id', 'An option answers a question: question_id is missing')
            // Visible to this user at all? (404 otherwise; READ access is refused by core with 403.)
            await viewInstance(answerPath(core), ctx.user.id, id)
            const outcome = await answerQuestion(core, {
              actorUserId: ctx.user.id,
              instanceId: id,
              answer,
              markAsRead: false,
              channel: 'web',
              allowShared: true,
              ...(questionId ? { questionId } : {}),
            })
            if (outcome.status === 'refused') throw refusalError(outcome)
            if (outcome.messageId) await markSeen(core.db, ctx.user.id, id, outcome.messageId)
            const warning = answerNotice(outcome)
            // A button that came too late wrote nothing: 409, with who answered first.
            const status = warning && !outcome.messageId ? 409 : 200
            if (isHtmx(ctx.request)) {
              if ('option' in answer) return htmlResponse(AnswerNotice({ message: warning }), status)
              const inst = await viewInstance(core.db, ctx.user.id, id)
              return htmlResponse(ReplyForm({ inst, csrfToken: ctx.csrfToken, warning }))
            }
            return warning ? page(ctx, id, { warning }, status) : back(id, 'replied')
          },
          rawOption ? undefined : content,
        )
      },
      { auth: true },
    )
    .post(
      '/instances/:id/:action',
      (ctx) =>
        attempt(ctx, ctx.params.id, async () => {
          const action = lookup(OWNER_ACTIONS, ctx.params.action)
          if (!action) throw new NotFound('No such action')
          const id = instanceId(ctx.params.id)
          const done = await action(core, ctx.user.id, id, ctx.body)
          return done === 'deleted' ? seeOther('/') : back(id, done)
        }),
      { auth: true },
    )
}
