// Telegram delivery: 1,000 questions spread over 100 linked chats, sent through the outbox to a
// local fake Bot API server with Telegram's real limits (1 message/s per chat, 30/s per bot).
// Measures the sustained send rate against the 30/s ceiling, and checks that every question
// reached its chat exactly once.
import { loadConfig } from '../src/config.ts'
import { postAgentMessage } from '../src/core/messages.ts'
import { channelLinks, users } from '../src/db/schema.ts'
import { startParley } from '../src/parley.ts'
import { FakeTelegram } from '../test/fakes/telegram.ts'
import type { Section } from './lib.ts'

const CHATS = 100
const QUESTIONS = 1000
const AGENTS = 20
const LIMIT_PER_S = 30

export async function telegramDelivery(databaseUrl: string): Promise<Section> {
  const fake = new FakeTelegram().start()
  const parley = await startParley(
    loadConfig({
      DATABASE_URL: databaseUrl,
      PORT: '0',
      TELEGRAM_BOT_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.apiRoot,
    }),
    { quiet: true, telegram: { log: () => {} } },
  )
  const failures: string[] = []
  try {
    const db = parley.database.db
    const owners: { userId: string; chat: number }[] = []
    for (let i = 0; i < CHATS; i++) {
      const [user] = await db
        .insert(users)
        .values({ email: `tg-bench-${crypto.randomUUID().slice(0, 8)}@example.com` })
        .returning({ id: users.id })
      const chat = 900_000 + i
      await db.insert(channelLinks).values({ userId: user!.id, channel: 'telegram', chatId: String(chat) })
      owners.push({ userId: user!.id, chat })
    }
    const expected = new Map<string, number>()
    const enqueueStart = performance.now()
    // Round-robin over chats, as questions from many agents would arrive; 20 agents at a time.
    let next = 0
    const agent = async () => {
      for (let i = next++; i < QUESTIONS; i = next++) {
        const o = owners[i % CHATS]!
        const r = await postAgentMessage(parley.core, {
          userId: o.userId,
          instanceId: crypto.randomUUID(),
          agentType: 'bench',
          content: `Bench question ${i}? [YES/NO]`,
          requiresUserInput: true,
        })
        expected.set(r.messageId, o.chat)
      }
    }
    await Promise.all(Array.from({ length: AGENTS }, agent))
    const enqueueS = (performance.now() - enqueueStart) / 1000
    const deadline = Date.now() + 120_000
    const sends = () => fake.callsOf('sendMessage')
    while (sends().length < QUESTIONS && Date.now() < deadline) await Bun.sleep(50)
    await Bun.sleep(1500) // anything sent twice would show up now
    const calls = sends()
    const seen = new Map<string, number>()
    const byChat = new Map<string, number[]>()
    for (const c of calls) {
      const id = /#msg-([0-9a-f-]{36})/.exec(String(c.body.text))?.[1]
      const chat = String(c.body.chat_id)
      byChat.set(chat, [...(byChat.get(chat) ?? []), c.at])
      if (id) seen.set(`${id}/${chat}`, (seen.get(`${id}/${chat}`) ?? 0) + 1)
    }
    const duplicates = [...seen.values()].filter((n) => n > 1).length
    const lost = [...expected].filter(([id, chat]) => !seen.has(`${id}/${chat}`)).length
    const times = calls.map((c) => c.at).sort((a, b) => a - b)
    const spanS = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1000
    const rate = spanS > 0 ? (calls.length - 1) / spanS : 0
    // The tightest gap between two sends to one chat shows the per-chat limit was kept.
    let minChatGapMs = Number.POSITIVE_INFINITY
    for (const ts of byChat.values()) {
      for (let i = 1; i < ts.length; i++) minChatGapMs = Math.min(minChatGapMs, ts[i]! - ts[i - 1]!)
    }
    if (duplicates > 0) failures.push(`${duplicates} (question, chat) pairs were sent more than once`)
    if (lost > 0) failures.push(`${lost} questions never reached their chat`)
    const [unsent] = await parley.database.query<{ n: number }>(
      `select count(*)::int as n from deliveries where channel = 'telegram' and state <> 'sent'`,
    )
    return {
      title: 'Telegram delivery (1,000 questions over 100 chats)',
      notes: [
        `${QUESTIONS} questions from ${CHATS} users (one linked chat each) asked by ${AGENTS} concurrent ` +
          `agents through core in ${enqueueS.toFixed(1)} s; the outbox sends while they are still being ` +
          'asked. The fake Bot API answers at once, so the pacing (1 message/s per chat, 30/s overall, ' +
          "Telegram's limits and Parley's defaults) is the only brake.",
      ],
      rows: [
        {
          what: 'sustained send rate',
          value: `${rate.toFixed(1)}/s (${((rate / LIMIT_PER_S) * 100).toFixed(0)} % of ${LIMIT_PER_S}/s)`,
          target: `≥ ${(LIMIT_PER_S * 0.9).toFixed(0)}/s (90 %), never above the limit`,
          ok: rate >= LIMIT_PER_S * 0.9 && rate <= LIMIT_PER_S * 1.05,
        },
        {
          what: 'messages sent',
          value: String(calls.length),
          target: String(QUESTIONS),
          ok: calls.length === QUESTIONS,
        },
        { what: 'duplicates', value: String(duplicates), target: '0', ok: duplicates === 0 },
        { what: 'lost', value: String(lost), target: '0', ok: lost === 0 },
        { what: 'rows not sent', value: String(unsent!.n), target: '0', ok: unsent!.n === 0 },
        {
          what: 'closest two sends to one chat',
          value: `${minChatGapMs.toFixed(0)} ms`,
          target: '≥ 1000 ms (timer slack aside)',
          ok: minChatGapMs >= 950,
        },
      ],
      failures,
    }
  } finally {
    await parley.stop()
    fake.stop()
  }
}
