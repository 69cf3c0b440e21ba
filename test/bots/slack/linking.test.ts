// Linking a Slack user to a Parley user with a one-time code (slash command or DM), unlinking,
// the status list, and what an unlinked Slack user gets: a hint, and no effect.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createLinkCode } from '../../../src/core/links.ts'
import { dbKinds, makeUser } from '../../helpers.ts'
import { newSlackUser, type SlackFixture, slackFixture } from './fixture.ts'

for (const kind of dbKinds()) {
  describe(`slack linking (${kind})`, () => {
    let s: SlackFixture
    beforeAll(async () => {
      s = await slackFixture(kind)
    }, 60_000)
    afterAll(() => s.close())

    const linksOf = (slackUserId: string) =>
      s.database.query<{ user_id: string; team_id: string; active: boolean }>(
        `select user_id, team_id, active from channel_links where channel = 'slack' and external_user_id = $1`,
        [slackUserId],
      )

    test('/parley link CODE links team + user to the code owner; the code works once', async () => {
      const alice = await makeUser(s.database.db, 'alice')
      const who = newSlackUser('T9')
      const code = await createLinkCode(s.database.db, alice.id, 'slack')
      const r = await s.command(who, `link ${code.toLowerCase()}`)
      expect(r.status).toBe(200)
      expect(r.replies).toEqual([expect.stringContaining('Linked')])
      expect(await linksOf(who.userId)).toEqual([{ user_id: alice.id, team_id: 'T9', active: true }])
      const again = await s.command(newSlackUser(), `link ${code}`)
      expect(again.replies[0]).toContain('unknown, already used or expired')
    })

    test('a DM "link CODE" links too; a Telegram code does not link Slack', async () => {
      const bob = await makeUser(s.database.db, 'bob')
      const who = newSlackUser()
      const telegramCode = await createLinkCode(s.database.db, bob.id, 'telegram')
      const wrong = await s.dm(who, `link ${telegramCode}`)
      expect(wrong.replies[0]).toContain('unknown')
      expect(await linksOf(who.userId)).toEqual([])
      const code = await createLinkCode(s.database.db, bob.id, 'slack')
      const r = await s.dm(who, `link ${code}`)
      expect(r.replies[0]).toContain('Linked')
      expect((await linksOf(who.userId))[0]?.user_id).toBe(bob.id)
    })

    test('/parley status lists open questions with links to their instance pages, escaped', async () => {
      const carol = await s.linkedUser('carol')
      const empty = await s.command(carol.slack, 'status')
      expect(empty.replies).toEqual(['No open questions.'])
      const q = await s.ask(carol.id, 'Deploy <!channel> & friends? [YES/NO]')
      const r = await s.command(carol.slack, 'status')
      expect(r.replies[0]).toContain('1 open question')
      expect(r.replies[0]).toContain('Deploy &lt;!channel&gt; &amp; friends?')
      expect(r.replies[0]).not.toContain('<!channel>')
      expect(r.replies[0]).toContain(`<http://parley.test/instances/${q.instanceId}|open>`)
    })

    test('/parley unlink removes the link; afterwards the user is told to link again', async () => {
      const dave = await s.linkedUser('dave')
      const r = await s.command(dave.slack, 'unlink')
      expect(r.replies[0]).toContain('Unlinked')
      expect(await linksOf(dave.slack.userId)).toEqual([])
      const status = await s.command(dave.slack, 'status')
      expect(status.replies[0]).toContain('Link your Parley account')
      // A question asked just before unlinking is never sent to the unlinked Slack user.
      const eve = await s.linkedUser('eve')
      const q = await s.ask(eve.id, 'Still want this?')
      await s.command(eve.slack, 'unlink')
      const [row] = await s.database.query<{ state: string; last_error: string }>(
        `select state, last_error from deliveries where message_id = $1`,
        [q.questionId],
      )
      expect(row).toEqual({ state: 'failed', last_error: 'unlinked' })
    })

    test('an unlinked Slack user gets "link your account" everywhere and changes nothing', async () => {
      const owner = await s.linkedUser('erin')
      const q = await s.ask(owner.id, 'Proceed? [YES/NO]')
      const stranger = newSlackUser()
      const count = async () =>
        (await s.database.query<{ n: number }>('select count(*)::int as n from messages'))[0]!.n
      const before = await count()
      const replies = [
        await s.command(stranger, 'status'),
        await s.command(stranger, 'unlink'),
        await s.dm(stranger, 'yes'),
        await s.press(stranger, 'parley.option.0', `${q.questionId}:0`),
        await s.press(stranger, 'parley.reply', q.questionId),
      ]
      for (const r of replies) {
        expect(r.status).toBe(200)
        expect(r.replies).toEqual([expect.stringContaining('Link your Parley account')])
      }
      const modal = await s.submit(stranger, q.questionId, 'yes')
      expect(JSON.parse(modal.body).response_action).toBe('errors')
      expect(await count()).toBe(before)
      expect(s.fake.callsOf('views.open')).toHaveLength(0)
      const [row] = await s.database.query<{ answered_at: string | null }>(
        'select answered_at from messages where id = $1',
        [q.questionId],
      )
      expect(row!.answered_at).toBeNull()
    })
  })
}
