// A fake Telegram Bot API server: real HTTP on 127.0.0.1, so grammY runs unmodified with
// `apiRoot` pointed here. It keeps the messages the bot sent and edited per chat, queues updates
// for getUpdates (long polling, 409 when two pollers overlap, like Telegram), and can be told to
// fail the next calls of a method (500, 429 with retry_after, 403 blocked) or hang them (timeouts).
import { loadConfig } from '../../src/config.ts'
import type { Database } from '../../src/db/client.ts'
import { type Parley, startParley } from '../../src/parley.ts'

export type FakeMessage = {
  message_id: number
  chat_id: number
  text: string
  parse_mode?: string
  reply_markup?: {
    inline_keyboard?: { text: string; callback_data?: string; url?: string }[][]
    force_reply?: boolean
    input_field_placeholder?: string
  }
  reply_to_message_id?: number
  edits: number
}

export type Call = { method: string; body: Record<string, unknown>; at: number }

type Failure = { status: number; description: string; retryAfter?: number }

export const BOT_ID = 777000
const ok = (result: unknown) => Response.json({ ok: true, result })

export class FakeTelegram {
  readonly calls: Call[] = []
  readonly messages = new Map<number, FakeMessage[]>()
  readonly failures = new Map<string, Failure[]>()
  private readonly hangs = new Map<string, number>()
  webhook: { url: string; secret_token?: string; allowed_updates?: string[] } | null = null
  conflicts = 0
  private server: ReturnType<typeof Bun.serve> | null = null
  private nextMessageId = 100
  private nextUpdateId = 5000
  private queue: Record<string, unknown>[] = []
  private polling = false
  private wakePoller: (() => void) | null = null

  constructor(readonly token = '123456:TEST-TOKEN') {}

  get apiRoot(): string {
    return `http://127.0.0.1:${this.server!.port}`
  }

  start(): this {
    this.server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (req) => this.handle(req) })
    return this
  }

  stop(): void {
    this.wakePoller?.()
    this.server?.stop(true)
  }

  /** The next `count` calls of `method` hang until the client gives up, taking nothing in. */
  hang(method: string, count = 1): void {
    this.hangs.set(method, (this.hangs.get(method) ?? 0) + count)
  }

  /** The next `count` calls of `method` fail like this. */
  fail(method: string, failure: Failure, count = 1): void {
    const list = this.failures.get(method) ?? []
    for (let i = 0; i < count; i++) list.push(failure)
    this.failures.set(method, list)
  }

  callsOf(method: string): Call[] {
    return this.calls.filter((c) => c.method === method)
  }

  chat(chatId: number): FakeMessage[] {
    return this.messages.get(chatId) ?? []
  }

  // --- updates, as Telegram would send them -------------------------------------------------

  private user(chatId: number) {
    return { id: chatId, is_bot: false, first_name: `User${chatId}` }
  }

  /** A text message from the user of private chat `chatId`. */
  message(chatId: number, text: string, opts: { replyTo?: number; updateId?: number } = {}) {
    const replied = opts.replyTo === undefined ? undefined : this.find(chatId, opts.replyTo)
    const id = this.nextMessageId++
    const list = this.messages.get(chatId) ?? []
    list.push({ message_id: id, chat_id: chatId, text, edits: 0 })
    this.messages.set(chatId, list)
    const entities = text.startsWith('/')
      ? [{ type: 'bot_command', offset: 0, length: text.split(' ')[0]!.length }]
      : undefined
    return {
      update_id: opts.updateId ?? this.nextUpdateId++,
      message: {
        message_id: id,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: 'private', first_name: `User${chatId}` },
        from: this.user(chatId),
        text,
        ...(entities ? { entities } : {}),
        ...(replied ? { reply_to_message: this.asTelegram(replied) } : {}),
      },
    }
  }

  /** A button press on bot message `messageId` in chat `chatId`. */
  callback(chatId: number, messageId: number, data: string, opts: { updateId?: number } = {}) {
    const msg = this.find(chatId, messageId)
    return {
      update_id: opts.updateId ?? this.nextUpdateId++,
      callback_query: {
        id: `cb${this.nextUpdateId}`,
        from: this.user(chatId),
        chat_instance: `ci${chatId}`,
        data,
        ...(msg ? { message: this.asTelegram(msg) } : {}),
      },
    }
  }

  /** Queues an update for getUpdates (long polling mode). */
  push(update: Record<string, unknown>): void {
    this.queue.push(update)
    this.wakePoller?.()
  }

  /** Every text message that is still in its chat, with the ids a test needs. */
  find(chatId: number, messageId: number): FakeMessage | undefined {
    return this.chat(chatId).find((m) => m.message_id === messageId)
  }

  private asTelegram(m: FakeMessage): Record<string, unknown> {
    const isBot = this.sentByBot.has(m.message_id)
    const entities: Record<string, unknown>[] = []
    for (const match of m.text.matchAll(/<a href="([^"]+)">([^<]*)<\/a>/g)) {
      entities.push({ type: 'text_link', offset: 0, length: 1, url: match[1]!.replace(/&amp;/g, '&') })
    }
    return {
      message_id: m.message_id,
      date: Math.floor(Date.now() / 1000),
      chat: { id: m.chat_id, type: 'private' },
      from: isBot ? { id: BOT_ID, is_bot: true, first_name: 'Parley' } : this.user(m.chat_id),
      text: unescapeHtml(m.text.replace(/<[^>]+>/g, '')),
      ...(entities.length > 0 ? { entities } : {}),
      ...(m.reply_markup ? { reply_markup: m.reply_markup } : {}),
      ...(m.reply_to_message_id !== undefined && this.find(m.chat_id, m.reply_to_message_id)
        ? { reply_to_message: this.asTelegram(this.find(m.chat_id, m.reply_to_message_id)!) }
        : {}),
    }
  }

  private readonly sentByBot = new Set<number>()

  // --- the Bot API ----------------------------------------------------------------------------

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url)
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname)
    if (!match)
      return Response.json({ ok: false, error_code: 404, description: 'Not Found' }, { status: 404 })
    if (match[1] !== this.token) {
      return Response.json({ ok: false, error_code: 401, description: 'Unauthorized' }, { status: 401 })
    }
    const method = match[2]!
    const text = await req.text()
    const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>
    this.calls.push({ method, body, at: performance.now() })
    const hangs = this.hangs.get(method) ?? 0
    if (hangs > 0) {
      this.hangs.set(method, hangs - 1)
      await new Promise((resolve) => req.signal.addEventListener('abort', resolve, { once: true }))
      return Response.json({ ok: false, error_code: 504, description: 'Gateway Timeout' }, { status: 504 })
    }
    const failure = this.failures.get(method)?.shift()
    if (failure) {
      return Response.json(
        {
          ok: false,
          error_code: failure.status,
          description: failure.description,
          ...(failure.retryAfter !== undefined ? { parameters: { retry_after: failure.retryAfter } } : {}),
        },
        { status: failure.status },
      )
    }
    switch (method) {
      case 'getMe':
        return ok({ id: BOT_ID, is_bot: true, first_name: 'Parley', username: 'parley_test_bot' })
      case 'setWebhook':
        this.webhook = body as never
        return ok(true)
      case 'deleteWebhook':
        this.webhook = null
        return ok(true)
      case 'setMyCommands':
      case 'answerCallbackQuery':
        return ok(true)
      case 'getUpdates':
        return this.getUpdates(body, req.signal)
      case 'sendMessage':
        return ok(this.send(body))
      case 'editMessageText':
        return this.edit(body)
      default:
        return Response.json(
          { ok: false, error_code: 404, description: `Not Found: ${method}` },
          { status: 404 },
        )
    }
  }

  private send(body: Record<string, unknown>) {
    const chatId = Number(body.chat_id)
    const m: FakeMessage = {
      message_id: this.nextMessageId++,
      chat_id: chatId,
      text: String(body.text),
      ...(body.parse_mode ? { parse_mode: String(body.parse_mode) } : {}),
      ...(body.reply_markup ? { reply_markup: body.reply_markup as FakeMessage['reply_markup'] } : {}),
      ...((body.reply_parameters as { message_id?: number } | undefined)?.message_id !== undefined
        ? { reply_to_message_id: (body.reply_parameters as { message_id: number }).message_id }
        : {}),
      edits: 0,
    }
    this.sentByBot.add(m.message_id)
    const list = this.messages.get(chatId) ?? []
    list.push(m)
    this.messages.set(chatId, list)
    return this.asTelegram(m)
  }

  private edit(body: Record<string, unknown>): Response {
    const m = this.find(Number(body.chat_id), Number(body.message_id))
    if (!m)
      return Response.json(
        { ok: false, error_code: 400, description: 'Bad Request: message to edit not found' },
        { status: 400 },
      )
    const markup = (body.reply_markup as FakeMessage['reply_markup']) ?? undefined
    if (m.text === body.text && JSON.stringify(m.reply_markup) === JSON.stringify(markup)) {
      return Response.json(
        { ok: false, error_code: 400, description: 'Bad Request: message is not modified' },
        { status: 400 },
      )
    }
    m.text = String(body.text)
    if (markup) m.reply_markup = markup
    else delete m.reply_markup
    m.edits++
    return ok(this.asTelegram(m))
  }

  private async getUpdates(body: Record<string, unknown>, signal: AbortSignal): Promise<Response> {
    const longPoll = Number(body.timeout ?? 0) > 0
    if (this.polling && longPoll) {
      this.conflicts++
      return Response.json(
        {
          ok: false,
          error_code: 409,
          description:
            'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
        },
        { status: 409 },
      )
    }
    const offset = Number(body.offset ?? 0)
    this.queue = this.queue.filter((u) => Number(u.update_id) >= offset)
    if (this.queue.length === 0 && longPoll) {
      this.polling = true
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(done, Math.min(Number(body.timeout) * 1000, 2000))
        this.wakePoller = done
        signal.addEventListener('abort', done, { once: true })
      })
      this.wakePoller = null
      this.polling = false
    }
    return ok([...this.queue])
  }
}

const unescapeHtml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')

/** The secret the fake's webhook updates carry (X-Telegram-Bot-Api-Secret-Token). */
export const WEBHOOK_SECRET = 'test-secret-token'

/** Parley in webhook mode against `fake`: quick pacing and retries, quiet logs. */
export function startWithTelegram(fake: FakeTelegram, database: Database): Promise<Parley> {
  return startParley(
    loadConfig({
      PORT: '0',
      PUBLIC_URL: 'https://parley.example',
      TELEGRAM_BOT_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.apiRoot,
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
    }),
    {
      database,
      quiet: true,
      telegram: { pacing: { perTargetMs: 20, perSecond: 500 }, log: () => {} },
      outbox: { backoff: { baseMs: 30, maxMs: 200, maxAttempts: 5 }, progressIntervalMs: 200, log: () => {} },
    },
  )
}
