// A chat channel added without touching core: a tiny "pigeon" adapter registered with the outbox,
// chats linked through core/links.ts with the adapter's own targets. Its copies follow the one
// "who gets a copy" rule (owner and WRITE-shared users with an active link, per their prefs).
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { shareInstance } from '../../src/core/instance-admin.ts'
import { createLinkCode, linkChat } from '../../src/core/links.ts'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { type ChatChannel, type DeliveryJob, type SendResult, sendByKind } from '../../src/notify/channel.ts'
import { Outbox } from '../../src/notify/outbox.ts'
import { ChannelRegistry } from '../../src/notify/registry.ts'
import { dbKinds, makeUser, type TestApp, testApp, until, uuid } from '../helpers.ts'

/** Carrier pigeons: a question is a note to a coop, an answer rewrites the note. */
class PigeonChannel implements ChatChannel {
  readonly channel = 'pigeon'
  readonly label = 'Carrier pigeon'
  readonly pacing = { perTargetMs: 0, perSecond: 1000 }
  readonly notes = new Map<string, string>()
  readonly calls: { kind: string; job: DeliveryJob }[] = []

  send(job: DeliveryJob): Promise<SendResult> {
    return sendByKind(this, job)
  }
  async sendQuestion(job: DeliveryJob): Promise<SendResult> {
    this.calls.push({ kind: 'question', job })
    const ref = `${job.target}#${this.notes.size + 1}`
    this.notes.set(ref, job.message.content)
    return { ok: true, externalRef: { ref } }
  }
  async editAnswered(job: DeliveryJob): Promise<SendResult> {
    this.calls.push({ kind: 'answered', job })
    const { ref } = job.externalRef as { ref: string }
    this.notes.set(ref, `answered by ${job.answer?.by} via ${job.answer?.via}: ${job.answer?.content}`)
    return { ok: true }
  }
  classify(err: unknown): SendResult {
    return { ok: false, retry: true, error: String(err) }
  }
  of(kind: string) {
    return this.calls.filter((c) => c.kind === kind).map((c) => c.job.target)
  }
}

for (const kind of dbKinds()) {
  describe(`a channel added without editing core (${kind})`, () => {
    let t: TestApp
    let outbox: Outbox | null = null
    beforeAll(async () => {
      t = await testApp(kind)
    }, 60_000)
    afterEach(async () => {
      await outbox?.stop()
      outbox = null
    })
    afterAll(() => t.close())

    const link = async (userId: string, coop: string) => {
      const code = await createLinkCode(t.database.db, userId, 'pigeon')
      expect(await linkChat(t.database.db, code, { channel: 'pigeon', target: coop })).toBe(userId)
    }

    test('owner and WRITE-shared users get copies on it; READ-shared and opted-out users do not', async () => {
      const pigeons = new PigeonChannel()
      outbox = new Outbox(t.core, new ChannelRegistry([pigeons]), { baseUrl: 'http://p.test', log: () => {} })
      await outbox.start()
      const owner = await makeUser(t.database.db, 'owner')
      const writer = await makeUser(t.database.db, 'writer')
      const reader = await makeUser(t.database.db, 'reader')
      const quiet = await makeUser(t.database.db, 'quiet')
      const instanceId = uuid()
      await postAgentMessage(t.core, {
        userId: owner.id,
        instanceId,
        agentType: 'claude',
        content: 'started',
        requiresUserInput: false,
      })
      for (const [u, access] of [
        [writer, 'WRITE'],
        [reader, 'READ'],
        [quiet, 'WRITE'],
      ] as const) {
        await shareInstance(t.core, owner.id, instanceId, { email: u.email, access })
      }
      await t.database.query(
        `update users set notification_prefs = '{"questions":{"pigeon":false}}' where id = $1`,
        [quiet.id],
      )
      for (const [u, coop] of [
        [owner, 'coop-owner'],
        [writer, 'coop-writer'],
        [reader, 'coop-reader'],
        [quiet, 'coop-quiet'],
      ] as const) {
        await link(u.id, coop)
      }

      const q = await postAgentMessage(t.core, {
        userId: owner.id,
        instanceId,
        agentType: 'claude',
        content: 'Ship it? [YES/NO]',
        requiresUserInput: true,
      })
      const rows = await t.database.query<{ target: string }>(
        `select target from deliveries where message_id = $1 and kind = 'question' order by target`,
        [q.messageId],
      )
      expect(rows.map((r) => r.target)).toEqual(['coop-owner', 'coop-writer'])
      await until(() => pigeons.of('question').length === 2, 5000, 'both questions sent')
      expect(pigeons.of('question').sort()).toEqual(['coop-owner', 'coop-writer'])

      await postUserMessage(t.core, {
        actorUserId: writer.id,
        instanceId,
        content: 'Yes',
        markAsRead: true,
        channel: 'pigeon',
        questionId: q.messageId,
        allowShared: true,
      })
      await until(() => pigeons.of('answered').length === 2, 5000, 'both copies edited')
      expect([...pigeons.notes.values()]).toEqual([
        'answered by writer via pigeon: Yes',
        'answered by writer via pigeon: Yes',
      ])
    })
  })
}
