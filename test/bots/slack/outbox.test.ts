// Slack through the real outbox: a question reaches the linked user's DM once, an answer on any
// channel edits every copy, 429 waits for Retry-After, pending rows survive a restart without
// duplicates, and a dead link is switched off with its error. Also the whole server on a port.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { loadConfig } from '../../../src/config.ts'
import { endSession } from '../../../src/core/instances.ts'
import { postAgentMessage, postUserMessage } from '../../../src/core/messages.ts'
import { startParley } from '../../../src/main.ts'
import { Outbox, type OutboxOptions } from '../../../src/notify/outbox.ts'
import { FakeSlack, FORM, interactionBody, slackRequest } from '../../fakes/slack.ts'
import { dbKinds, freshDatabase, makeUser, until } from '../../helpers.ts'
import { BASE_URL, newSlackUser, SIGNING_SECRET, type SlackFixture, slackFixture } from './fixture.ts'

const fast: OutboxOptions = {
  baseUrl: BASE_URL,
  backoff: { baseMs: 20, maxMs: 200, maxAttempts: 4 },
  progressIntervalMs: 100,
  log: () => {},
}
const blocksText = (m: { blocks: unknown[] } | undefined) => JSON.stringify(m?.blocks ?? [])

for (const kind of dbKinds()) {
  describe(`slack through the outbox (${kind})`, () => {
    let s: SlackFixture
    const running: Outbox[] = []
    const run = async () => {
      const outbox = new Outbox(s.core, [s.bot.adapter], fast)
      running.push(outbox)
      await outbox.start()
      return outbox
    }
    beforeAll(async () => {
      s = await slackFixture(kind)
    }, 60_000)
    /** Stops the outboxes this test started; they finish the sends they have in flight. */
    const settle = async () => {
      await Promise.all(running.splice(0).map((o) => o.stop()))
    }
    const deliveryStates = async (messageId: string) =>
      (
        await s.database.query<{ state: string }>('select state from deliveries where message_id = $1', [
          messageId,
        ])
      ).map((r) => r.state)
    afterEach(async () => {
      await settle()
    })
    afterAll(() => s.close())

    const postsTo = (slackUserId: string) =>
      s.fake.callsOf('chat.postMessage').filter((c) => c.args.channel === `D${slackUserId}`)
    const copyFor = (slackUserId: string) =>
      s.fake.until(() => [...s.fake.messages.values()].find((m) => m.channel === `D${slackUserId}`))

    test('a question arrives as buttons; a button answer locks the copy: "Answered by … via Slack"', async () => {
      await run()
      const u = await s.linkedUser('ann')
      const q = await s.ask(u.id, 'Ship it? [YES/NO]')
      const copy = await copyFor(u.slack.userId)
      expect(blocksText(copy)).toContain(`"value":"${q.questionId}:0"`)
      await s.press(u.slack, 'parley.option.0', `${q.questionId}:0`)
      await s.fake.until(() => /Answered by ann via Slack · [^"]+ UTC: Yes/.test(blocksText(copy)))
      expect(blocksText(copy)).not.toContain('parley.option')
      expect(postsTo(u.slack.userId)).toHaveLength(1)
      const late = await s.press(u.slack, 'parley.option.1', `${q.questionId}:1`)
      expect(late.replies[0]).toStartWith('Already answered by ann via Slack · ')
    }, 15_000)

    test('an answer given on the web updates the Slack copy', async () => {
      await run()
      const u = await s.linkedUser('bea')
      const q = await s.ask(u.id, 'Which branch?', ['main', 'dev'])
      const copy = await copyFor(u.slack.userId)
      await postUserMessage(s.core, {
        actorUserId: u.id,
        instanceId: q.instanceId,
        content: 'release/1.2',
        markAsRead: false,
        channel: 'web',
      })
      await s.fake.until(() =>
        /Answered by bea via the dashboard · [^"]+ UTC: release\/1\.2/.test(blocksText(copy)),
      )
      const update = s.fake.callsOf('chat.update').at(-1)!
      expect(update.args.channel).toBe(copy.channel)
      expect(update.args.ts).toBe(copy.ts)
    }, 15_000)

    test('500 twice then success: retried, one message in the DM', async () => {
      await run()
      const u = await s.linkedUser('dee')
      s.fake.fail('chat.postMessage', { status: 500, body: { ok: false, error: 'internal_error' } }, 2)
      const q = await s.ask(u.id, 'Server trouble?')
      await copyFor(u.slack.userId)
      expect(postsTo(u.slack.userId)).toHaveLength(3) // two refused calls, then the one that worked
      expect([...s.fake.messages.values()].filter((m) => m.channel === `D${u.slack.userId}`)).toHaveLength(1)
      const row = async () =>
        (
          await s.database.query<{ state: string; attempts: number }>(
            `select state, attempts from deliveries where message_id = $1 and kind = 'question'`,
            [q.questionId],
          )
        )[0]!
      await until(async () => (await row()).state === 'sent')
      expect(await row()).toEqual({ state: 'sent', attempts: 2 })
    }, 15_000)

    test('429 then success: one message, sent after Retry-After', async () => {
      await run()
      const u = await s.linkedUser('cal')
      s.fake.fail('chat.postMessage', {
        status: 429,
        headers: { 'retry-after': '1' },
        body: { ok: false, error: 'ratelimited' },
      })
      const started = Date.now()
      const q = await s.ask(u.id, 'Rate limited?')
      await copyFor(u.slack.userId)
      expect(Date.now() - started).toBeGreaterThanOrEqual(950)
      expect(postsTo(u.slack.userId)).toHaveLength(2) // the refused call, then the one that worked
      expect([...s.fake.messages.values()].filter((m) => m.channel === `D${u.slack.userId}`)).toHaveLength(1)
      const row = async () =>
        (
          await s.database.query<{ state: string; attempts: number; last_error: string }>(
            `select state, attempts, last_error from deliveries where message_id = $1 and kind = 'question'`,
            [q.questionId],
          )
        )[0]!
      await until(async () => (await row()).state === 'sent')
      expect(await row()).toMatchObject({ state: 'sent', attempts: 1, last_error: null })
    }, 15_000)

    test('restart with pending deliveries: sent once after start, even with two outboxes running', async () => {
      const u = await s.linkedUser('dov')
      const q = await s.ask(u.id, 'Still there after a restart?')
      const [pending] = await s.database.query<{ state: string }>(
        `select state from deliveries where message_id = $1`,
        [q.questionId],
      )
      expect(pending!.state).toBe('pending')
      expect(postsTo(u.slack.userId)).toHaveLength(0)
      await Promise.all([run(), run()])
      await copyFor(u.slack.userId)
      await until(async () => (await deliveryStates(q.questionId)).every((state) => state === 'sent'))
      await settle() // nothing left to claim, and stop waits for sends in flight: the count is final
      expect(postsTo(u.slack.userId)).toHaveLength(1)
    }, 15_000)

    test('progress, when asked for: one status message per instance edited in place, then a session-ended note', async () => {
      await run()
      const u = await s.linkedUser('pia')
      await s.database.query(`update users set notification_prefs = $1::jsonb where id = $2`, [
        JSON.stringify({ progress: { slack: true } }),
        u.id,
      ])
      const instanceId = crypto.randomUUID()
      const step = (content: string) =>
        postAgentMessage(s.core, {
          userId: u.id,
          instanceId,
          agentType: 'codex',
          content,
          requiresUserInput: false,
        })
      await step('reading the code')
      await step('running tests')
      await step('tests pass')
      const status = await copyFor(u.slack.userId)
      await s.fake.until(() => blocksText(status).includes('tests pass'))
      await endSession(s.core, u.id, instanceId)
      await s.fake.until(() => blocksText(status).includes('Session ended (completed)'))
      expect(postsTo(u.slack.userId)).toHaveLength(1)
      expect(s.fake.callsOf('chat.update').filter((c) => c.args.ts === status.ts).length).toBeLessThanOrEqual(
        3,
      )
    }, 15_000)

    test('without the progress preference, steps send nothing to Slack', async () => {
      await run()
      const u = await s.linkedUser('quinn')
      const instanceId = crypto.randomUUID()
      await postAgentMessage(s.core, {
        userId: u.id,
        instanceId,
        agentType: 'codex',
        content: 'quiet step',
        requiresUserInput: false,
      })
      // Nothing is queued for the step, so nothing can be sent.
      expect(await s.database.query('select 1 from deliveries where instance_id = $1', [instanceId])).toEqual(
        [],
      )
      await settle()
      expect(postsTo(u.slack.userId)).toHaveLength(0)
    }, 15_000)

    test('account_inactive stops retries and marks the link inactive with its error', async () => {
      await run()
      const u = await s.linkedUser('eli')
      s.fake.fail('chat.postMessage', { body: { ok: false, error: 'account_inactive' } })
      const q = await s.ask(u.id, 'Anyone?')
      await s.fake.until(() => postsTo(u.slack.userId).length === 1)
      const link = async () =>
        (
          await s.database.query<{ active: boolean; last_error: string | null }>(
            `select active, last_error from channel_links where channel = 'slack' and external_user_id = $1`,
            [u.slack.userId],
          )
        )[0]!
      await until(async () => !(await link()).active)
      expect(await link()).toEqual({ active: false, last_error: 'account_inactive' })
      const [row] = await s.database.query<{ state: string }>(
        `select state from deliveries where message_id = $1`,
        [q.questionId],
      )
      expect(row!.state).toBe('failed')
      // The link still says who they are: /parley status works, and new questions are not sent.
      expect((await s.command(u.slack, 'status')).replies[0]).toContain('open question')
      const next = await s.ask(u.id, 'And now?')
      expect(await deliveryStates(next.questionId)).toEqual([])
      await settle() // a failed row is not retried; stop waits for sends in flight
      expect(postsTo(u.slack.userId)).toHaveLength(1)
    }, 15_000)
  })

  test(`the whole server (${kind}): question to Slack, answered by a signed button press over HTTP`, async () => {
    const fake = new FakeSlack()
    const db = await freshDatabase(kind)
    const config = loadConfig({
      PORT: '0',
      SLACK_BOT_TOKEN: fake.token,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
    })
    const { baseUrl: _, ...tuning } = fast
    const parley = await startParley(config, { database: db.database, quiet: true, outbox: tuning })
    try {
      const user = await makeUser(db.database.db, 'zed')
      const who = newSlackUser()
      await db.database.query(
        `insert into channel_links (user_id, channel, target, team_id, external_user_id)
          values ($1, 'slack', $2 || ':' || $3, $2, $3)`,
        [user.id, who.teamId, who.userId],
      )
      const ask = await fetch(`${parley.url}/api/v1/messages/agent`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_type: 'claude', content: 'Merge? [YES/NO]', requires_user_input: true }),
      })
      expect(ask.status).toBe(200)
      const { message_id: questionId, agent_instance_id: instanceId } = (await ask.json()) as Record<
        string,
        string
      >
      const copy = await fake.until(() =>
        [...fake.messages.values()].find((m) => m.channel === `D${who.userId}`),
      )
      expect(blocksText(copy)).toContain(`${parley.url}/instances/${instanceId}`)
      const press = slackRequest(
        SIGNING_SECRET,
        interactionBody({
          type: 'block_actions',
          user: { id: who.userId, team_id: who.teamId },
          team: { id: who.teamId },
          response_url: fake.responseUrl(),
          actions: [{ type: 'button', action_id: 'parley.option.1', value: `${questionId}:1` }],
        }),
        FORM,
      )
      const res = await fetch(`${parley.url}/slack/events`, {
        method: 'POST',
        headers: press.headers,
        body: await press.text(),
      })
      expect(res.status).toBe(200)
      await fake.until(() => /Answered by zed via Slack · [^"]+ UTC: No/.test(blocksText(copy)))
    } finally {
      await parley.stop()
      fake.stop()
      await db.drop()
    }
  }, 60_000)
}
