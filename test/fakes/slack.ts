// A local Slack Web API on 127.0.0.1: the real @slack/web-api and Bolt clients talk to it over
// HTTP (SLACK_API_URL / slackApiUrl), it keeps the DM conversations and their messages, records
// every call and response_url post, and can be told to fail a method (429, platform errors, 5xx).
// Also builds incoming requests signed exactly as Slack signs them.
import { createHmac } from 'node:crypto'

export type SlackCall = { method: string; args: Record<string, unknown>; token: string | null }
export type SlackMessage = {
  channel: string
  ts: string
  text: string
  blocks: unknown[]
  threadTs?: string
  /** Set for a message a person wrote (not the bot). */
  user?: string
}
type Failure = { status?: number; headers?: Record<string, string>; body?: Record<string, unknown> }

const JSON_FIELDS = ['blocks', 'view', 'attachments']

export class FakeSlack {
  readonly calls: SlackCall[] = []
  readonly responses: { url: string; body: Record<string, unknown> }[] = []
  readonly messages = new Map<string, SlackMessage>()
  private readonly failures = new Map<string, Failure[]>()
  private readonly delays = new Map<string, number>()
  private readonly waiters = new Set<() => void>()
  /** Socket Mode: what the app sent back over the socket (acks), and the open sockets. */
  readonly socketAcks: Record<string, unknown>[] = []
  private readonly sockets = new Set<Bun.ServerWebSocket<unknown>>()
  private server: ReturnType<typeof Bun.serve>
  private seq = 0

  constructor(
    readonly token = 'xoxb-test-token',
    readonly bot = { userId: 'UBOT', botId: 'BBOT', teamId: 'T1' },
    readonly appToken = 'xapp-test-token',
  ) {
    this.server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (req, server) => {
        if (new URL(req.url).pathname === '/socket') {
          return server.upgrade(req, { data: undefined })
            ? undefined
            : new Response('upgrade failed', { status: 400 })
        }
        return this.handle(req)
      },
      websocket: {
        open: (ws) => {
          this.sockets.add(ws)
          ws.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A1' } }))
          this.notify()
        },
        message: (_ws, data) => {
          this.socketAcks.push(JSON.parse(String(data)) as Record<string, unknown>)
          this.notify()
        },
        close: (ws) => {
          this.sockets.delete(ws)
        },
      },
    })
  }

  get socketCount(): number {
    return this.sockets.size
  }

  /** Pushes an envelope (events_api, interactive, slash_commands) to every connected app. */
  pushEnvelope(type: string, payload: Record<string, unknown>): string {
    const envelopeId = `env-${++this.seq}`
    const message = JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: true })
    for (const ws of this.sockets) ws.send(message)
    return envelopeId
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`
  }
  /** What SLACK_API_URL / slackApiUrl should be. */
  get apiUrl(): string {
    return `${this.url}/api/`
  }
  /** A response_url for an incoming payload; posts to it are kept in `responses`. */
  responseUrl(): string {
    return `${this.url}/respond/${++this.seq}`
  }

  /** A message a person wrote in a DM, kept so conversations.history can return it. */
  received(message: { channel: string; ts: string; user: string; text: string }): void {
    this.messages.set(`${message.channel}:${message.ts}`, { ...message, blocks: [] })
  }

  /** The next `times` calls of `method` fail with this answer. */
  fail(method: string, failure: Failure, times = 1): void {
    const list = this.failures.get(method) ?? []
    for (let i = 0; i < times; i++) list.push(failure)
    this.failures.set(method, list)
  }

  /** Every later call of `method` takes `ms` before it answers. */
  slow(method: string, ms: number): void {
    this.delays.set(method, ms)
  }

  callsOf(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method)
  }

  /** Resolves once `check` returns a value (re-checked after every call the fake receives). */
  async until<T>(check: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (let value = check(); ; value = check()) {
      if (value) return value
      if (Date.now() >= deadline) throw new Error('fake Slack: expected call did not arrive in time')
      await this.nextCall(deadline - Date.now())
    }
  }

  /** Resolves after the next call the fake answers, or after `ms`. */
  private nextCall(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.waiters.add(done)
    })
  }

  stop(): void {
    for (const ws of this.sockets) ws.close()
    this.server.stop(true)
  }

  private notify(): void {
    for (const w of [...this.waiters]) w()
  }

  private async handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname
    if (path.startsWith('/respond/')) {
      this.responses.push({ url: req.url, body: (await req.json()) as Record<string, unknown> })
      this.notify()
      return new Response('ok')
    }
    const method = path.replace(/^\/api\//, '')
    const args = await readArgs(req)
    const token = req.headers.get('authorization')?.replace(/^Bearer /, '') ?? (args.token as string) ?? null
    this.calls.push({ method, args, token })
    const delay = this.delays.get(method)
    if (delay) await Bun.sleep(delay)
    try {
      const failure = this.failures.get(method)?.shift()
      if (failure) {
        return Response.json(failure.body ?? { ok: false, error: 'internal_error' }, {
          status: failure.status ?? 200,
          headers: failure.headers,
        })
      }
      if (method === 'apps.connections.open') {
        if (token !== this.appToken) return Response.json({ ok: false, error: 'invalid_auth' })
        return Response.json({ ok: true, url: `ws://127.0.0.1:${this.server.port}/socket` })
      }
      if (token !== this.token) return Response.json({ ok: false, error: 'invalid_auth' })
      return Response.json(this.answer(method, args))
    } finally {
      this.notify()
    }
  }

  private answer(method: string, args: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: this.bot.userId, bot_id: this.bot.botId, team_id: this.bot.teamId }
      case 'conversations.open':
        return { ok: true, channel: { id: `D${String(args.users)}` } }
      case 'chat.postMessage': {
        const ts = `${1_700_000_000 + ++this.seq}.000100`
        const channel = String(args.channel)
        const message: SlackMessage = {
          channel,
          ts,
          text: String(args.text ?? ''),
          blocks: (args.blocks as unknown[]) ?? [],
          threadTs: args.thread_ts as string | undefined,
        }
        this.messages.set(`${channel}:${ts}`, message)
        return { ok: true, channel, ts, message: { ts, text: message.text } }
      }
      case 'chat.update': {
        const key = `${String(args.channel)}:${String(args.ts)}`
        const message = this.messages.get(key)
        if (!message) return { ok: false, error: 'message_not_found' }
        message.text = String(args.text ?? '')
        message.blocks = (args.blocks as unknown[]) ?? []
        return { ok: true, channel: message.channel, ts: message.ts }
      }
      case 'conversations.history': {
        // Enough for reading one message back: the one at `latest` (inclusive), if any.
        const m = this.messages.get(`${String(args.channel)}:${String(args.latest)}`)
        const found = m && args.inclusive !== 'false' && args.inclusive !== false ? [m] : []
        return {
          ok: true,
          messages: found.map((f) => ({
            type: 'message',
            ts: f.ts,
            text: f.text,
            user: f.user ?? this.bot.userId,
          })),
        }
      }
      case 'chat.postEphemeral':
        return { ok: true, message_ts: `${1_700_000_000 + ++this.seq}.000200` }
      case 'views.open':
        return { ok: true, view: { id: `V${++this.seq}` } }
      default:
        return { ok: false, error: 'unknown_method' }
    }
  }
}

async function readArgs(req: Request): Promise<Record<string, unknown>> {
  const text = await req.text()
  if ((req.headers.get('content-type') ?? '').includes('application/json')) {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {}
  }
  const args: Record<string, unknown> = {}
  for (const [k, v] of new URLSearchParams(text)) args[k] = JSON_FIELDS.includes(k) ? JSON.parse(v) : v
  return args
}

/** Slack's request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}`. */
export function slackSignature(secret: string, timestamp: number | string, rawBody: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`
}

export type SignedOptions = {
  timestamp?: number
  retryNum?: number
  /** Override the signature (tests of refusal). */
  signature?: string | null
}

/** A POST /slack/events request exactly as Slack sends it. */
export function slackRequest(secret: string, body: string, contentType: string, opts: SignedOptions = {}) {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000)
  const headers: Record<string, string> = {
    'content-type': contentType,
    'x-slack-request-timestamp': String(timestamp),
  }
  const signature = opts.signature === undefined ? slackSignature(secret, timestamp, body) : opts.signature
  if (signature !== null) headers['x-slack-signature'] = signature
  if (opts.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(opts.retryNum)
    headers['x-slack-retry-reason'] = 'http_timeout'
  }
  return new Request('http://parley.test/slack/events', { method: 'POST', headers, body })
}

export const eventBody = (event: Record<string, unknown>, eventId = `Ev${crypto.randomUUID().slice(0, 8)}`) =>
  JSON.stringify({
    type: 'event_callback',
    team_id: 'T1',
    api_app_id: 'A1',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: 'T1', user_id: 'UBOT', is_bot: true }],
    event,
  })

/** Interactivity: form-encoded `payload=<json>`. */
export const interactionBody = (payload: Record<string, unknown>) =>
  new URLSearchParams({ payload: JSON.stringify(payload) }).toString()

/** A slash command: form-encoded fields. */
export const commandBody = (fields: Record<string, string>) => new URLSearchParams(fields).toString()

export const FORM = 'application/x-www-form-urlencoded'
export const JSON_TYPE = 'application/json'
