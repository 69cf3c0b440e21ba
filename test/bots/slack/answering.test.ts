// Answering from Slack: a button (exactly the option's text), the Reply modal, a reply in the
// question's thread; a late press hears who answered first; only the owner or a WRITE-shared
// user may answer.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { endSession } from '../../../src/core/instances.ts'
import { postAgentMessage } from '../../../src/core/messages.ts'
import { FORM, interactionBody, slackRequest } from '../../fakes/slack.ts'
import { dbKinds, uuid } from '../../helpers.ts'
import { jobFor, SIGNING_SECRET, type SlackFixture, slackFixture } from './fixture.ts'

for (const kind of dbKinds()) {
  describe(`slack answers (${kind})`, () => {
    let s: SlackFixture
    beforeAll(async () => {
      s = await slackFixture(kind)
    }, 60_000)
    afterAll(() => s.close())

    const questionRow = async (id: string) =>
      (
        await s.database.query<{
          answered_via: string | null
          answered_by: string | null
          answer: string | null
        }>(
          `select q.answered_via, q.answered_by, a.content as answer
           from messages q left join messages a on a.id = q.answer_message_id where q.id = $1`,
          [id],
        )
      )[0]!

    /** Sends the queued question to the user's DM and records the copy, as the outbox does. */
    async function deliver(u: { id: string; slack: { teamId: string; userId: string } }, questionId: string) {
      const target = `${u.slack.teamId}:${u.slack.userId}`
      const sent = await s.bot.adapter.send(await jobFor(s, 'question', questionId, target))
      if (!sent.ok) throw new Error(sent.error)
      await s.database.query(
        `update deliveries set state = 'sent', external_ref = $1::jsonb
         where message_id = $2 and channel = 'slack' and target = $3 and kind = 'question'`,
        [JSON.stringify(sent.externalRef), questionId, target],
      )
      return sent.externalRef as { channel: string; ts: string }
    }

    test('a button press answers with exactly the option text, via slack, and acks at once', async () => {
      const u = await s.linkedUser('ann')
      const q = await s.ask(u.id, 'Which env?', ['staging', 'production (careful)'])
      const r = await s.press(u.slack, 'parley.option.1', `${q.questionId}:1`)
      expect(r.status).toBe(200)
      expect(r.replies).toEqual([])
      expect(await questionRow(q.questionId)).toEqual({
        answered_via: 'slack',
        answered_by: u.id,
        answer: 'production (careful)',
      })
    })

    test('Slack gets its answer before the slow work is done (ack first, work after)', async () => {
      const u = await s.linkedUser('ida')
      const q = await s.ask(u.id, 'Slow?')
      s.fake.slow('views.open', 800)
      try {
        const started = performance.now()
        const res = await s.app.handle(
          slackRequest(
            SIGNING_SECRET,
            interactionBody({
              type: 'block_actions',
              user: { id: u.slack.userId, team_id: u.slack.teamId },
              team: { id: u.slack.teamId },
              trigger_id: 'trigger.slow',
              response_url: s.fake.responseUrl(),
              actions: [{ type: 'button', action_id: 'parley.reply', value: q.questionId }],
            }),
            FORM,
          ),
        )
        expect(res.status).toBe(200)
        expect(performance.now() - started).toBeLessThan(700)
        await s.bot.receiver!.settled()
        expect(s.fake.callsOf('views.open').at(-1)!.args.trigger_id).toBe('trigger.slow')
      } finally {
        s.fake.slow('views.open', 0)
      }
    })

    test('a late press is told who answered first, and writes nothing', async () => {
      const u = await s.linkedUser('ben')
      const q = await s.ask(u.id, 'Go? [YES/NO]')
      await s.press(u.slack, 'parley.option.0', `${q.questionId}:0`)
      const late = await s.press(u.slack, 'parley.option.1', `${q.questionId}:1`)
      expect(late.replies).toHaveLength(1)
      expect(late.replies[0]).toMatch(
        /^Already answered by ben via Slack · .+ UTC\. Your choice was not sent\.$/,
      )
      expect((await questionRow(q.questionId)).answer).toBe('Yes')
      // The late press must not reach the agent as a second, contradicting instruction.
      const written = await s.database.query<{ content: string }>(
        `select m.content from messages m join messages q on q.instance_id = m.instance_id
         where q.id = $1 and m.sender = 'USER'`,
        [q.questionId],
      )
      expect(written.map((m) => m.content)).toEqual(['Yes'])
    })

    test('Reply… opens a modal with the trigger id; an empty answer is rejected; a real one answers', async () => {
      const u = await s.linkedUser('cat')
      const q = await s.ask(u.id, 'What name?')
      const pressed = await s.press(u.slack, 'parley.reply', q.questionId)
      expect(pressed.status).toBe(200)
      const open = s.fake.callsOf('views.open').at(-1)!
      expect(String(open.args.trigger_id)).toStartWith('trigger.')
      const view = open.args.view as { private_metadata: string; blocks: { text?: { text: string } }[] }
      expect(view.private_metadata).toBe(q.questionId)
      expect(view.blocks[0]!.text!.text).toBe('What name?')

      const empty = await s.submit(u.slack, q.questionId, '   ')
      expect(JSON.parse(empty.body)).toEqual({
        response_action: 'errors',
        errors: { answer: 'Write an answer before sending.' },
      })
      expect((await questionRow(q.questionId)).answer).toBeNull()

      const ok = await s.submit(u.slack, q.questionId, 'Parley <3')
      expect(ok.status).toBe(200)
      expect(ok.body).toBe('')
      expect(await questionRow(q.questionId)).toMatchObject({ answered_via: 'slack', answer: 'Parley <3' })
      const again = await s.submit(u.slack, q.questionId, 'other')
      expect(JSON.parse(again.body).errors.answer).toContain('Already answered by cat via Slack')
    })

    test('a reply in the question thread answers that question, even with several open', async () => {
      const u = await s.linkedUser('dan')
      const first = await s.ask(u.id, 'First?')
      const second = await s.ask(u.id, 'Second?')
      const ref = await deliver(u, first.questionId)
      await deliver(u, second.questionId)
      // Slack escapes &, < and > in message text; the answer is stored as typed.
      const r = await s.dm(u.slack, 'use a &lt;b&gt; &amp; go', {
        thread_ts: ref.ts,
        ts: `${Number(ref.ts) + 5}`,
      })
      expect(r.replies).toEqual([])
      expect((await questionRow(first.questionId)).answer).toBe('use a <b> & go')
      expect((await questionRow(second.questionId)).answer).toBeNull()
    })

    test('a bare DM answers the only open question, and asks which one when several are open', async () => {
      const u = await s.linkedUser('eve')
      const a = await s.ask(u.id, 'Alpha?')
      const b = await s.ask(u.id, 'Beta?')
      const r = await s.dm(u.slack, 'yes')
      expect(r.replies[0]).toContain('Several questions are open')
      expect(r.replies[0]).toContain('Alpha?')
      expect((await questionRow(a.questionId)).answer).toBeNull()
      await s.press(u.slack, 'parley.option.0', `${a.questionId}:0`) // no options: refused
      await s.submit(u.slack, a.questionId, 'done with alpha')
      const last = await s.dm(u.slack, 'beta it is')
      expect(last.replies).toEqual([])
      expect((await questionRow(b.questionId)).answer).toBe('beta it is')
    })

    test('a message that answers no question goes to an agent: its status thread, the only one running, or the one picked', async () => {
      const u = await s.linkedUser('sam')
      const target = `${u.slack.teamId}:${u.slack.userId}`
      await s.database.query(
        `update users set notification_prefs = '{"progress":{"slack":true}}' where id = $1`,
        [u.id],
      )
      const step = (instanceId: string, userId = u.id) =>
        postAgentMessage(s.core, {
          userId,
          instanceId,
          agentType: 'codex',
          content: 'Working',
          requiresUserInput: false,
        })
      const said = async (instanceId: string) =>
        (
          await s.database.query<{ content: string; channel: string }>(
            `select content, channel from messages where instance_id = $1 and sender = 'USER' order by id`,
            [instanceId],
          )
        ).map((m) => `${m.channel}: ${m.content}`)
      const a = uuid()
      const b = uuid()
      const status = await step(a)
      await step(b)
      const sent = await s.bot.adapter.send(await jobFor(s, 'progress', status.messageId, target))
      if (!sent.ok) throw new Error(sent.error)
      await s.database.query(
        `update deliveries set state = 'sent', external_ref = $1::jsonb where instance_id = $2 and kind = 'progress'`,
        [JSON.stringify(sent.externalRef), a],
      )
      const ref = sent.externalRef as { ts: string }
      const toA = `Sent to *codex · ${a.slice(0, 8)}*.`

      // Two agents run: only the thread says which one a reply is for.
      const inThread = await s.dm(u.slack, 'also run &lt;lint&gt;', {
        thread_ts: ref.ts,
        ts: `${Number(ref.ts) + 1}`,
      })
      expect(inThread.replies).toEqual([toA])
      expect(await said(a)).toEqual(['slack: also run <lint>'])

      const asked = await s.dm(u.slack, 'stop after this step')
      expect(asked.replies).toEqual(['2 agents are running. Which one is this message for?'])
      expect(await said(b)).toEqual([])
      const picker = s.fake.callsOf('chat.postEphemeral').at(-1)!.args.blocks as {
        elements?: { action_id: string; value: string; text: { text: string } }[]
      }[]
      const buttons = picker[1]!.elements!
      const forB = buttons.find((e) => e.value.startsWith(b))!
      expect(forB.text.text).toBe(`codex · ${b.slice(0, 8)}`)
      const pressed = await s.press(u.slack, forB.action_id, forB.value, forB.text.text)
      expect(pressed.replies).toEqual([`Sent to *codex · ${b.slice(0, 8)}*.`])
      expect(await said(b)).toEqual(['slack: stop after this step'])
      expect(await said(a)).toHaveLength(1)

      // With one agent left running, a bare message goes to it, and the reply names it.
      await endSession(s.core, u.id, b)
      const bare = await s.dm(u.slack, 'then commit')
      expect(bare.replies).toEqual([toA])
      expect(await said(a)).toEqual(['slack: also run <lint>', 'slack: then commit'])

      // Someone else's picker button naming this instance is refused by core, and writes nothing.
      const other = await s.linkedUser('mia')
      await step(uuid(), other.id)
      await step(uuid(), other.id)
      const theirs = await s.dm(other.slack, 'go')
      expect(theirs.replies).toEqual(['2 agents are running. Which one is this message for?'])
      const ts = (
        s.fake.callsOf('chat.postEphemeral').at(-1)!.args.blocks as { elements?: { value: string }[] }[]
      )[1]!.elements![0]!.value.split(':')[1]!
      const forged = await s.press(other.slack, 'parley.steer.0', `${a}:${ts}`, 'codex')
      expect(forged.replies).toEqual(['Agent instance not found'])
      expect(await said(a)).toHaveLength(2)
    })

    test("another user's button or modal is refused; a WRITE-shared user may answer", async () => {
      const owner = await s.linkedUser('olga')
      const other = await s.linkedUser('mallory')
      const friend = await s.linkedUser('frank')
      const q = await s.ask(owner.id, 'Delete prod? [YES/NO]')
      const pressed = await s.press(other.slack, 'parley.option.0', `${q.questionId}:0`)
      const refused = 'You cannot answer this question: it is not yours, or it is gone.'
      expect(pressed.replies).toEqual([refused])
      const modal = await s.press(other.slack, 'parley.reply', q.questionId)
      expect(modal.replies).toEqual([refused])
      const submitted = await s.submit(other.slack, q.questionId, 'yes')
      expect(JSON.parse(submitted.body).errors.answer).toContain('cannot answer')
      expect((await questionRow(q.questionId)).answer).toBeNull()
      const count = await s.database.query(
        `select 1 from messages where sender = 'USER' and sender_user_id = $1`,
        [other.id],
      )
      expect(count).toHaveLength(0)

      await s.database.query(
        `insert into instance_access (instance_id, user_id, access) select instance_id, $1, 'WRITE' from messages where id = $2`,
        [friend.id, q.questionId],
      )
      await s.press(friend.slack, 'parley.option.1', `${q.questionId}:1`)
      expect(await questionRow(q.questionId)).toMatchObject({ answer: 'No', answered_by: friend.id })
    })
  })
}
