// A Bolt receiver served by Parley's own HTTP server: Elysia hands it the raw request of
// POST /slack/events (events, interactivity and slash commands alike). It verifies the signature
// before anything else, answers url_verification and ssl_check itself, drops redelivered events,
// and answers Slack as soon as the listener acks while the listener's work carries on.
import type { App, Receiver, ReceiverEvent } from '@slack/bolt'
import { AppError, type ErrorCode } from '../../src/errors.ts'
import { errorResponse } from '../../src/http/errors.ts'
import { checkSlackSignature, SIGNATURE_MESSAGES } from './verify.ts'

/** Slack gives up after 3 s; answer a little earlier when a listener never acks. */
const ACK_DEADLINE_MS = 2500
const MAX_BODY_CHARS = 1024 * 1024

export type ReceiverOptions = {
  signingSecret: string
  /** True the first time an event id is seen (across processes): retries have one effect. */
  firstSeen: (eventId: string) => Promise<boolean>
  onError: (err: unknown) => void
}

type Body = Record<string, unknown>

const error = (code: ErrorCode, message: string) => errorResponse(new AppError(code, message))

function parseBody(raw: string, contentType: string): Body | null {
  try {
    if (contentType.includes('application/x-www-form-urlencoded')) {
      const form = Object.fromEntries(new URLSearchParams(raw))
      return typeof form.payload === 'string' ? (JSON.parse(form.payload) as Body) : form
    }
    const parsed: unknown = JSON.parse(raw)
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Body) : null
  } catch {
    return null
  }
}

function ackResponse(response: unknown): Response {
  if (response === undefined || response === null || response === '')
    return new Response(null, { status: 200 })
  if (typeof response === 'string') return new Response(response, { status: 200 })
  return Response.json(response)
}

export class ElysiaReceiver implements Receiver {
  private app: App | null = null
  private readonly inflight = new Set<Promise<unknown>>()

  constructor(private readonly opts: ReceiverOptions) {}

  init(app: App): void {
    this.app = app
  }
  async start(): Promise<void> {}
  /** Waits for listener work still running after its ack (graceful stop, tests). */
  async stop(): Promise<void> {
    await this.settled()
  }
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight])
  }

  async handle(request: Request): Promise<Response> {
    const raw = await request.text()
    if (raw.length > MAX_BODY_CHARS) return error('PAYLOAD_TOO_LARGE', 'Request body is too large')
    const problem = checkSlackSignature(this.opts.signingSecret, request.headers, raw)
    if (problem) return error('UNAUTHORIZED', SIGNATURE_MESSAGES[problem])
    const body = parseBody(raw, request.headers.get('content-type') ?? '')
    if (!body) return error('BAD_REQUEST', 'body: not a Slack payload')
    if (body.ssl_check) return new Response(null, { status: 200 })
    if (body.type === 'url_verification') return Response.json({ challenge: body.challenge })
    if (body.type === 'event_callback' && typeof body.event_id === 'string') {
      if (!(await this.opts.firstSeen(body.event_id))) return new Response(null, { status: 200 })
    }
    if (!this.app) return error('UNAVAILABLE', 'Slack is starting')
    return this.dispatch(this.app, body, request.headers)
  }

  private dispatch(app: App, body: Body, headers: Headers): Promise<Response> {
    return new Promise<Response>((resolve) => {
      let answered = false
      const answer = (res: Response) => {
        if (answered) return
        answered = true
        clearTimeout(timer)
        resolve(res)
      }
      const timer = setTimeout(() => answer(new Response(null, { status: 200 })), ACK_DEADLINE_MS)
      const retryNum = Number(headers.get('x-slack-retry-num') ?? Number.NaN)
      const event: ReceiverEvent = {
        body,
        retryNum: Number.isInteger(retryNum) ? retryNum : undefined,
        retryReason: headers.get('x-slack-retry-reason') ?? undefined,
        ack: async (response?: unknown) => answer(ackResponse(response)),
      }
      const work = app
        .processEvent(event)
        .catch(this.opts.onError)
        // Nothing acked (no listener matched): Slack still gets its 200.
        .finally(() => {
          answer(new Response(null, { status: 200 }))
          this.inflight.delete(work)
        })
      this.inflight.add(work)
    })
  }
}
