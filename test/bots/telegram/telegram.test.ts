// The Telegram bot end to end, in webhook mode: a real Parley server, grammY pointed at the fake
// Bot API with TELEGRAM_API_ROOT, updates POSTed to /telegram/webhook as Telegram would.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { loadConfig } from '../../../src/config.ts'
import { TIMED_OUT } from '../../../src/core/answer-wording.ts'
import { closeQuestion } from '../../../src/core/answers.ts'
import { endSession } from '../../../src/core/instances.ts'
import { createLinkCode } from '../../../src/core/links.ts'
import { postAgentMessage, postUserMessage } from '../../../src/core/messages.ts'
import { MemoryBus } from '../../../src/events/bus.ts'
import { type Parley, startParley } from '../../../src/main.ts'
import { FakeTelegram } from '../../fakes/telegram.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until, uuid } from '../../helpers.ts'

const PUBLIC_URL = 'https://parley.example'

for (const kind of dbKinds()) {
  describe(`telegram bot, webhook mode (${kind})`, () => {
    let fake: FakeTelegram
    let testDb: TestDb
    let parley: Parley
    let chatSeq = 1000 + (kind === 'postgres' ? 500 : 0)

    const start = () =>
      startParley(
        loadConfig({
          PORT: '0',
          PUBLIC_URL,
          TELEGRAM_BOT_TOKEN: fake.token,
          TELEGRAM_API_ROOT: fake.apiRoot,
          TELEGRAM_WEBHOOK_SECRET: 'test-secret-token',
        }),
        {
          database: testDb.database,
          quiet: true,
          telegram: { pacing: { perTargetMs: 20, perSecond: 500 }, log: () => {}, apiTimeoutSeconds: 1 },
          outbox: {
            backoff: { baseMs: 30, maxMs: 200, maxAttempts: 5 },
            progressIntervalMs: 200,
            log: () => {},
          },
        },
      )

    beforeAll(async () => {
      fake = new FakeTelegram().start()
      testDb = await freshDatabase(kind)
      parley = await start()
    }, 60_000)
    afterAll(async () => {
      await parley.stop()
      fake.stop()
      await testDb.drop()
    })

    const db = () => testDb.database
    const post = (update: unknown, secret: string | null = 'test-secret-token') =>
      fetch(`http://127.0.0.1:${parley.port}/telegram/webhook`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(secret ? { 'x-telegram-bot-api-secret-token': secret } : {}),
        },
        body: JSON.stringify(update),
      })
    const lastBotText = (chat: number) => fake.chat(chat).at(-1)?.text ?? ''

    /** A user with a linked chat, linked the way a person does it: /start CODE. */
    async function linked(label = 'tg') {
      const user = await makeUser(db().db, label)
      const chat = ++chatSeq
      const code = await createLinkCode(db().db, user.id, 'telegram')
      expect((await post(fake.message(chat, `/start ${code}`))).status).toBe(200)
      expect(lastBotText(chat)).toContain('Linked')
      return { user, chat }
    }
    const ask = (userId: string, instanceId: string, content: string, options?: string[]) =>
      postAgentMessage(parley.core, {
        userId,
        instanceId,
        agentType: 'claude',
        content,
        requiresUserInput: true,
        options: options ?? null,
      })
    const question = async (chat: number, messageId: string) => {
      await until(
        () => fake.chat(chat).some((m) => m.text.includes(`#msg-${messageId}`)),
        5000,
        'question copy',
      )
      return fake.chat(chat).find((m) => m.text.includes(`#msg-${messageId}`))!
    }
    const answerOf = async (questionId: string) =>
      (
        await db().query<{ answered_via: string | null; content: string | null }>(
          `select q.answered_via, a.content from messages q left join messages a on a.id = q.answer_message_id
           where q.id = $1`,
          [questionId],
        )
      )[0]!

    test('the webhook is registered with its secret and update types', () => {
      expect(fake.webhook).toMatchObject({
        url: `${PUBLIC_URL}/telegram/webhook`,
        secret_token: 'test-secret-token',
        allowed_updates: ['message', 'callback_query'],
      })
    })

    test('a request without the right secret token is refused and changes nothing', async () => {
      const user = await makeUser(db().db, 'nosecret')
      const code = await createLinkCode(db().db, user.id, 'telegram')
      const update = fake.message(++chatSeq, `/start ${code}`)
      for (const secret of [null, 'wrong-secret-token']) {
        const res = await post(update, secret)
        expect(res.status).toBe(401)
        expect((await res.json()).error.code).toBe('UNAUTHORIZED')
      }
      const links = await db().query('select 1 from channel_links where user_id = $1', [user.id])
      expect(links).toHaveLength(0)
      const seen = await db().query('select 1 from processed_updates where external_id = $1', [
        String(update.update_id),
      ])
      expect(seen).toHaveLength(0)
      expect(fake.chat(chatSeq).filter((m) => m.text.includes('Linked'))).toHaveLength(0)
    })

    test('with the right secret, a body that is not an update is a 422 naming update_id', async () => {
      for (const body of [{}, { update_id: 'seven' }, { update_id: 1.5 }]) {
        const res = await post(body)
        expect(res.status).toBe(422)
        expect((await res.json()).error).toMatchObject({ code: 'INVALID_INPUT', field: 'update_id' })
      }
      const res = await fetch(`http://127.0.0.1:${parley.port}/telegram/webhook`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-telegram-bot-api-secret-token': 'test-secret-token',
        },
        body: '{not json',
      })
      expect(res.status).toBe(422)
    })

    test('an unlinked chat gets a short "link your account" answer and touches nothing', async () => {
      const chat = ++chatSeq
      const before = await db().query<{ n: number }>('select count(*)::int as n from messages')
      await post(fake.message(chat, 'yes, deploy it'))
      await post(fake.message(chat, '/status'))
      expect(lastBotText(chat)).toContain('not linked')
      expect(fake.chat(chat).filter((m) => m.text.includes('not linked'))).toHaveLength(2)
      expect(await db().query<{ n: number }>('select count(*)::int as n from messages')).toEqual(before)
      expect(await db().query('select 1 from channel_links where chat_id = $1', [String(chat)])).toHaveLength(
        0,
      )
    })

    test('a used or unknown code links nothing', async () => {
      const chat = ++chatSeq
      await post(fake.message(chat, '/start NOTACODE23'))
      expect(lastBotText(chat)).toContain('unknown, used or expired')
      expect(await db().query('select 1 from channel_links where chat_id = $1', [String(chat)])).toHaveLength(
        0,
      )
    })

    test('a question arrives with escaped text, the instance link and one button per option', async () => {
      const { user, chat } = await linked()
      const id = uuid()
      const q = await ask(user.id, id, 'Drop table <users> & rebuild?', ['Yes, drop it', 'No'])
      const copy = await question(chat, q.messageId)
      expect(copy.text).toContain('Drop table &lt;users&gt; &amp; rebuild?')
      expect(copy.text).not.toContain('<users>')
      expect(copy.text).toContain(`<b>claude</b> · ${id.slice(0, 8)}`)
      expect(copy.text).toContain(`href="${PUBLIC_URL}/instances/${id}#msg-${q.messageId}"`)
      expect(copy.parse_mode).toBe('HTML')
      const buttons = copy.reply_markup!.inline_keyboard!.flat()
      expect(buttons.map((b) => b.text)).toEqual(['Yes, drop it', 'No', '✍️ Answer in my own words'])
      for (const b of buttons) {
        expect(Buffer.byteLength(b.callback_data!)).toBeLessThanOrEqual(64)
        expect(b.callback_data).not.toContain(q.messageId)
      }
      // A question without options asks for a free-text reply directly.
      const open = await ask(user.id, id, 'What should the branch be called?')
      expect((await question(chat, open.messageId)).reply_markup).toEqual({
        force_reply: true,
        input_field_placeholder: 'Your answer',
      })
    })

    test('a button answers through core; every copy is then locked, and a late press is told who won', async () => {
      const { user, chat } = await linked('alice')
      const id = uuid()
      const q = await ask(user.id, id, 'Ship it? [YES/NO]')
      const copy = await question(chat, q.messageId)
      const [[yes], [no]] = copy.reply_markup!.inline_keyboard! as [
        [{ text: string; callback_data: string }],
        [{ text: string; callback_data: string }],
      ]
      expect(yes.text).toBe('Yes')
      await post(fake.callback(chat, copy.message_id, yes.callback_data))
      expect(await answerOf(q.messageId)).toEqual({ answered_via: 'telegram', content: 'Yes' })
      expect(fake.callsOf('answerCallbackQuery').at(-1)!.body.text).toBe('Answer sent.')
      await until(() => (fake.find(chat, copy.message_id)?.edits ?? 0) > 0, 5000, 'lock edit')
      const locked = fake.find(chat, copy.message_id)!
      expect(locked.text).toMatch(/Answered by alice via Telegram · .+ UTC/)
      expect(locked.text).toContain('Yes')
      expect(locked.reply_markup).toBeUndefined()
      const presses = fake.callsOf('answerCallbackQuery').length
      await post(fake.callback(chat, copy.message_id, no.callback_data))
      expect(fake.callsOf('answerCallbackQuery')).toHaveLength(presses + 1)
      expect(fake.callsOf('answerCallbackQuery').at(-1)!.body.text).toMatch(
        /^Already answered by alice via Telegram · .+ UTC\. Your choice was not sent\.$/,
      )
      expect(await answerOf(q.messageId)).toEqual({ answered_via: 'telegram', content: 'Yes' })
    })

    test('a question closed without an answer locks its copy with the closed wording', async () => {
      const { user, chat } = await linked('closer')
      const q = await ask(user.id, uuid(), 'Run the migration?', ['Run', 'Skip'])
      const copy = await question(chat, q.messageId)
      const run = copy.reply_markup!.inline_keyboard![0]![0]!.callback_data!
      expect(await closeQuestion(parley.core, { userId: user.id, questionId: q.messageId })).toBe(true)
      await until(() => (fake.find(chat, copy.message_id)?.edits ?? 0) > 0, 5000, 'lock edit')
      const locked = fake.find(chat, copy.message_id)!
      expect(locked.text).toContain('Closed: answered at the terminal or timed out')
      expect(locked.reply_markup).toBeUndefined()
      await post(fake.callback(chat, copy.message_id, run))
      expect(fake.callsOf('answerCallbackQuery').at(-1)!.body.text).toBe(
        'This question is closed: answered at the terminal or timed out. Your choice was not sent.',
      )
      expect(await answerOf(q.messageId)).toEqual({ answered_via: 'closed', content: null })
    })

    test('a question whose timeout_seconds passed gets its copy edited to say it timed out', async () => {
      const { user, chat } = await linked('expiring')
      const q = await postAgentMessage(parley.core, {
        userId: user.id,
        instanceId: uuid(),
        agentType: 'claude',
        content: 'Quick one? [YES/NO]',
        requiresUserInput: true,
        timeoutSeconds: 1,
      })
      const copy = await question(chat, q.messageId)
      expect(copy.reply_markup?.inline_keyboard).toBeDefined()
      await until(() => (fake.find(chat, copy.message_id)?.edits ?? 0) > 0, 5000, 'timed-out edit')
      const locked = fake.find(chat, copy.message_id)!
      expect(locked.text).toContain(`Closed: ${TIMED_OUT}`)
      expect(locked.reply_markup).toBeUndefined()
    })

    test('a reply to the question answers it with the reply text', async () => {
      const { user, chat } = await linked()
      const id = uuid()
      const q1 = await ask(user.id, id, 'Name of the branch?')
      const q2 = await ask(user.id, id, 'Name of the tag?')
      const copy = await question(chat, q1.messageId)
      await question(chat, q2.messageId)
      await post(fake.message(chat, 'feature/<login>', { replyTo: copy.message_id }))
      expect(await answerOf(q1.messageId)).toEqual({ answered_via: 'telegram', content: 'feature/<login>' })
      expect((await answerOf(q2.messageId)).content).toBeNull()
      expect(lastBotText(chat)).toContain('Answer sent')
    })

    test('"answer in my own words" sends a force-reply prompt; replying to it answers', async () => {
      const { user, chat } = await linked()
      const q = await ask(user.id, uuid(), 'Which region?', ['eu', 'us'])
      const copy = await question(chat, q.messageId)
      const own = copy.reply_markup!.inline_keyboard!.flat().at(-1)!
      await post(fake.callback(chat, copy.message_id, own.callback_data!))
      const prompt = fake.chat(chat).at(-1)!
      expect(prompt.reply_markup?.force_reply).toBe(true)
      await post(fake.message(chat, 'ap-south, please', { replyTo: prompt.message_id }))
      expect(await answerOf(q.messageId)).toEqual({ answered_via: 'telegram', content: 'ap-south, please' })
    })

    test('a bare message answers the only open question; with two open the bot asks which, never guesses', async () => {
      const { user, chat } = await linked()
      const id = uuid()
      const only = await ask(user.id, id, 'Continue?')
      await question(chat, only.messageId)
      await post(fake.message(chat, 'go on'))
      expect(await answerOf(only.messageId)).toEqual({ answered_via: 'telegram', content: 'go on' })

      const a = await ask(user.id, id, 'Run the migrations?')
      const b = await ask(user.id, uuid(), 'Merge the PR?')
      await question(chat, a.messageId)
      await question(chat, b.messageId)
      const bare = fake.message(chat, 'not yet')
      await post(bare)
      expect((await answerOf(a.messageId)).content).toBeNull()
      expect((await answerOf(b.messageId)).content).toBeNull()
      const picker = fake.chat(chat).at(-1)!
      expect(picker.text).toContain('2 questions are open')
      const choices = picker.reply_markup!.inline_keyboard!.flat()
      expect(choices.map((c) => c.text)).toEqual(['claude: Run the migrations?', 'claude: Merge the PR?'])
      await post(fake.callback(chat, picker.message_id, choices[1]!.callback_data!))
      expect(await answerOf(b.messageId)).toEqual({ answered_via: 'telegram', content: 'not yet' })
      expect((await answerOf(a.messageId)).content).toBeNull()
    })

    test('a message that answers no question goes to an agent: a reply to its status, the only one running, or the one picked', async () => {
      const { user, chat } = await linked('steerer')
      await db().query(
        `update users set notification_prefs = '{"progress":{"telegram":true}}' where id = $1`,
        [user.id],
      )
      const step = (instanceId: string, content: string) =>
        postAgentMessage(parley.core, {
          userId: user.id,
          instanceId,
          agentType: 'codex',
          content,
          requiresUserInput: false,
        })
      const said = async (instanceId: string) =>
        (
          await db().query<{ content: string; channel: string }>(
            `select content, channel from messages where instance_id = $1 and sender = 'USER' order by id`,
            [instanceId],
          )
        ).map((m) => `${m.channel}: ${m.content}`)
      const a = uuid()
      const b = uuid()
      await step(a, 'Reading the repo')
      await step(b, 'Starting')
      const statusOf = (id: string) => fake.chat(chat).find((m) => m.text.includes(`/instances/${id}"`))
      await until(() => statusOf(a) !== undefined && statusOf(b) !== undefined, 5000, 'status messages')
      const status = statusOf(a)!
      // What the bot answered a message (status messages and notes may arrive in between).
      const answered = async (text: string, replyTo?: number) => {
        const update = fake.message(chat, text, replyTo === undefined ? {} : { replyTo })
        await post(update)
        return fake.chat(chat).find((m) => m.reply_to_message_id === update.message.message_id)
      }
      await until(async () => {
        const [row] = await db().query<{ external_ref: unknown }>(
          `select external_ref from deliveries where instance_id = $1 and kind = 'progress'`,
          [a],
        )
        return row?.external_ref != null
      })

      // Two agents run: only the status message replied to says which one it is for.
      const viaStatus = await answered('also run the linter', status.message_id)
      expect(await said(a)).toEqual(['telegram: also run the linter'])
      expect(viaStatus?.text).toBe(`✅ Sent to codex · ${a.slice(0, 8)}.`)

      // A bare message: the bot asks which, and sends nothing until one is picked.
      const picker = (await answered('stop after this step'))!
      expect(picker.text).toBe('2 agents are running. Which one is this message for?')
      const choices = picker.reply_markup!.inline_keyboard!.flat()
      expect(choices.map((c) => c.text).sort()).toEqual(
        [`codex · ${a.slice(0, 8)}`, `codex · ${b.slice(0, 8)}`].sort(),
      )
      expect(await said(b)).toEqual([])
      const forB = choices.find((c) => c.text.endsWith(b.slice(0, 8)))!
      await post(fake.callback(chat, picker.message_id, forB.callback_data!))
      expect(await said(b)).toEqual(['telegram: stop after this step'])
      expect(await said(a)).toHaveLength(1)
      expect(fake.find(chat, picker.message_id)!.text).toBe(`✅ Sent to codex · ${b.slice(0, 8)}.`)

      // With one agent left running, a bare message goes to it, and the reply names it.
      await endSession(parley.core, user.id, b)
      const bare = await answered('then commit')
      expect(await said(a)).toEqual(['telegram: also run the linter', 'telegram: then commit'])
      expect(bare?.text).toBe(`✅ Sent to codex · ${a.slice(0, 8)}.`)

      // Someone else's chat reaches none of these instances, and is told nothing was sent.
      const other = await linked('bystander')
      await post(fake.message(other.chat, 'hello?'))
      expect(lastBotText(other.chat)).toContain('none of your agents is running, so nothing was sent')
      await post(fake.callback(other.chat, picker.message_id, forB.callback_data!))
      expect(await said(b)).toHaveLength(1)
    })

    test('an answer on another channel locks the copies in every linked chat', async () => {
      const { user, chat } = await linked('bob')
      const code = await createLinkCode(db().db, user.id, 'telegram')
      const second = ++chatSeq
      await post(fake.message(second, `/start ${code}`))
      const id = uuid()
      const q = await ask(user.id, id, 'Rotate the keys?', ['Rotate', 'Skip'])
      const copies = [await question(chat, q.messageId), await question(second, q.messageId)]
      await postUserMessage(parley.core, {
        actorUserId: user.id,
        instanceId: id,
        content: 'Skip',
        markAsRead: false,
        channel: 'web',
      })
      for (const [i, c] of [chat, second].entries()) {
        await until(() => (fake.find(c, copies[i]!.message_id)?.edits ?? 0) > 0, 5000, 'lock edit')
        const m = fake.find(c, copies[i]!.message_id)!
        expect(m.text).toMatch(/Answered by bob via the dashboard · .+ UTC/)
        expect(m.reply_markup).toBeUndefined()
      }
    })

    test('a user the instance is shared with for WRITE gets the question and can answer it', async () => {
      const owner = await linked('owner')
      const carol = await linked('carol')
      const id = uuid()
      await postAgentMessage(parley.core, {
        userId: owner.user.id,
        instanceId: id,
        agentType: 'claude',
        content: 'starting',
        requiresUserInput: false,
      })
      await db().query(
        `insert into instance_access (instance_id, user_id, email, access) values ($1, $2, $3, 'WRITE')`,
        [id, carol.user.id, carol.user.email],
      )
      const q = await ask(owner.user.id, id, 'Approve the release?', ['Approve', 'Hold'])
      const ownerCopy = await question(owner.chat, q.messageId)
      const carolCopy = await question(carol.chat, q.messageId)
      const hold = carolCopy.reply_markup!.inline_keyboard![1]![0]!.callback_data!
      await post(fake.callback(carol.chat, carolCopy.message_id, hold))
      expect(await answerOf(q.messageId)).toEqual({ answered_via: 'telegram', content: 'Hold' })
      await until(
        () => (fake.find(owner.chat, ownerCopy.message_id)?.edits ?? 0) > 0,
        5000,
        'owner copy locked',
      )
      expect(fake.find(owner.chat, ownerCopy.message_id)!.text).toContain('Answered by carol via Telegram')
      // Someone without access pressing a copied button learns nothing and changes nothing.
      const mallory = await linked('mallory')
      const other = await ask(owner.user.id, id, 'Delete the backups?', ['Yes', 'No'])
      const otherCopy = await question(owner.chat, other.messageId)
      const yes = otherCopy.reply_markup!.inline_keyboard![0]![0]!.callback_data!
      await post(fake.callback(mallory.chat, otherCopy.message_id, yes))
      expect(fake.callsOf('answerCallbackQuery').at(-1)!.body.text).toBe(
        'You cannot answer this question: it is not yours, or it is gone.',
      )
      expect((await answerOf(other.messageId)).content).toBeNull()
    }, 15_000)

    test('the same update_id twice has one effect', async () => {
      const { user, chat } = await linked()
      const id = uuid()
      const q = await ask(user.id, id, 'Proceed?')
      await question(chat, q.messageId)
      const update = fake.message(chat, 'yes')
      await post(update)
      await post(update)
      const rows = await db().query('select 1 from messages where instance_id = $1 and sender = $2', [
        id,
        'USER',
      ])
      expect(rows).toHaveLength(1)
    })

    test('an answer holding a NUL is taken (200, not sent again), refused by core with a reply, and stores nothing', async () => {
      const { user, chat } = await linked()
      const id = uuid()
      const q = await ask(user.id, id, 'Name of the branch?')
      const copy = await question(chat, q.messageId)
      const res = await post(fake.message(chat, 'main\u0000', { replyTo: copy.message_id }))
      expect(res.status).toBe(200)
      expect(lastBotText(chat)).toContain('NUL')
      expect(await answerOf(q.messageId)).toEqual({ answered_via: null, content: null })
      await post(fake.message(chat, 'main', { replyTo: copy.message_id }))
      expect(await answerOf(q.messageId)).toEqual({ answered_via: 'telegram', content: 'main' })
    })

    test('/status lists open questions and active agents; /unlink stops deliveries', async () => {
      const { user, chat } = await linked()
      const id = uuid()
      const q = await ask(user.id, id, 'Pick a <name>?')
      await question(chat, q.messageId)
      await post(fake.message(chat, '/status'))
      const status = lastBotText(chat)
      expect(status).toContain('Open questions</b> (1)')
      expect(status).toContain('Pick a &lt;name&gt;?')
      expect(status).toContain('waiting for you')
      await post(fake.message(chat, '/unlink'))
      expect(lastBotText(chat)).toContain('Unlinked')
      const sends = fake.callsOf('sendMessage').length
      const still = await ask(user.id, id, 'Still there?')
      // No copy is queued for an unlinked chat, so none can be sent.
      expect(await db().query('select 1 from deliveries where message_id = $1', [still.messageId])).toEqual(
        [],
      )
      expect(fake.callsOf('sendMessage')).toHaveLength(sends)
      await post(fake.message(chat, 'hello'))
      expect(lastBotText(chat)).toContain('not linked')
    })

    /** The question's delivery row once it is sent: its state and how many attempts failed. */
    const deliveredRow = async (messageId: string) => {
      const row = async () =>
        (
          await db().query<{ state: string; attempts: number }>(
            'select state, attempts from deliveries where message_id = $1',
            [messageId],
          )
        )[0]
      await until(async () => (await row())?.state === 'sent')
      return row()
    }

    test('a 500 is retried, then the question is delivered once', async () => {
      const { user, chat } = await linked()
      fake.fail('sendMessage', { status: 500, description: 'Internal Server Error' }, 2)
      const q = await ask(user.id, uuid(), 'Retry me?')
      await question(chat, q.messageId)
      expect(await deliveredRow(q.messageId)).toEqual({ state: 'sent', attempts: 2 })
      expect(fake.chat(chat).filter((m) => m.text.includes(`#msg-${q.messageId}`))).toHaveLength(1)
    })

    test('a call that times out is retried, then the question is delivered once', async () => {
      const { user, chat } = await linked()
      fake.hang('sendMessage')
      const q = await ask(user.id, uuid(), 'Still there after a timeout?')
      await question(chat, q.messageId)
      const calls = fake.callsOf('sendMessage').filter((c) => String(c.body.text).includes(q.messageId))
      expect(calls).toHaveLength(2) // the one that hung, then the one that worked
      expect(fake.chat(chat).filter((m) => m.text.includes(`#msg-${q.messageId}`))).toHaveLength(1)
      expect(await deliveredRow(q.messageId)).toEqual({ state: 'sent', attempts: 1 })
    })

    test('429 retry_after is waited out', async () => {
      const { user, chat } = await linked()
      fake.fail('sendMessage', {
        status: 429,
        description: 'Too Many Requests: retry after 1',
        retryAfter: 1,
      })
      const q = await ask(user.id, uuid(), 'Slow down?')
      const first = performance.now()
      await question(chat, q.messageId)
      const calls = fake.callsOf('sendMessage').filter((c) => String(c.body.text).includes(q.messageId))
      expect(calls).toHaveLength(2)
      expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950)
      expect(performance.now() - first).toBeLessThan(4000)
    })

    test('a 429 in one chat holds the whole bot: no chat gets a message before retry_after', async () => {
      const a = await linked('flood-a')
      const b = await linked('flood-b')
      fake.fail('sendMessage', {
        status: 429,
        description: 'Too Many Requests: retry after 1',
        retryAfter: 1,
      })
      const qa = await ask(a.user.id, uuid(), 'First?')
      await until(() => fake.callsOf('sendMessage').some((c) => String(c.body.text).includes(qa.messageId)))
      const refused = fake.callsOf('sendMessage').find((c) => String(c.body.text).includes(qa.messageId))!
      const qb = await ask(b.user.id, uuid(), 'Second, to another chat?')
      await question(b.chat, qb.messageId)
      await question(a.chat, qa.messageId)
      const after = fake.callsOf('sendMessage').filter((c) => c.at > refused.at)
      expect(after.length).toBeGreaterThanOrEqual(2)
      for (const c of after) expect(c.at - refused.at).toBeGreaterThanOrEqual(950)
    })

    test('a blocked bot stops retries and marks the link inactive', async () => {
      const { user, chat } = await linked()
      fake.fail('sendMessage', { status: 403, description: 'Forbidden: bot was blocked by the user' })
      const q = await ask(user.id, uuid(), 'Are you there?')
      await until(async () => {
        const [r] = await db().query<{ state: string }>(
          'select state from deliveries where message_id = $1',
          [q.messageId],
        )
        return r?.state === 'failed'
      })
      const [link] = await db().query<{ active: boolean; last_error: string }>(
        'select active, last_error from channel_links where chat_id = $1',
        [String(chat)],
      )
      expect(link).toEqual({ active: false, last_error: '403 Forbidden: bot was blocked by the user' })
      expect(fake.chat(chat).some((m) => m.text.includes(q.messageId))).toBe(false)
    })

    test('progress, when asked for: one status message edited in place, then a session-ended note', async () => {
      const { user, chat } = await linked()
      await db().query(
        `update users set notification_prefs = '{"progress":{"telegram":true}}' where id = $1`,
        [user.id],
      )
      const id = uuid()
      const step = (content: string) =>
        postAgentMessage(parley.core, {
          userId: user.id,
          instanceId: id,
          agentType: 'codex',
          content,
          requiresUserInput: false,
        })
      const before = fake.chat(chat).length
      await step('Reading the repo')
      await until(() => fake.chat(chat).length === before + 1)
      const status = fake.chat(chat).at(-1)!
      for (const s of ['Running tests', 'Fixing <lint>', 'Tests pass']) await step(s)
      await endSession(parley.core, user.id, id)
      await until(() => fake.chat(chat).some((m) => m.text.includes('session ended')), 5000, 'ended note')
      expect(fake.chat(chat).length).toBe(before + 2) // the status message and the note
      expect(status.text).toContain('Tests pass')
      expect(status.text).toContain('Session ended')
      expect(status.edits).toBeLessThanOrEqual(3)
      const sends = fake
        .callsOf('sendMessage')
        .filter((c) => Number(c.body.chat_id) === chat)
        .slice(-2)
      expect(sends.every((c) => c.body.disable_notification === true)).toBe(true)
    })

    test('restart: deliveries queued while Parley is down are sent after it starts', async () => {
      const { user, chat } = await linked()
      await parley.stop()
      // Written by core while no server runs (another process, or before a crash).
      const offline = { db: db().db, bus: new MemoryBus() }
      const q = await postAgentMessage(offline, {
        userId: user.id,
        instanceId: uuid(),
        agentType: 'claude',
        content: 'Still want this?',
        requiresUserInput: true,
      })
      const [row] = await db().query<{ state: string }>(
        'select state from deliveries where message_id = $1',
        [q.messageId],
      )
      expect(row!.state).toBe('pending')
      parley = await start()
      await question(chat, q.messageId)
    }, 30_000)
  })
}
