// The Slack channel adapter against the fake Web API: questions land in the user's DM, locks and
// progress edit the copy in place, and failures map to retry / wait / stop for the outbox.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { webApi } from '@slack/bolt'
import { SlackAdapter } from '../../../bots/slack/adapter.ts'
import { webClientOptions } from '../../../bots/slack/web-client.ts'
import { loadConfig } from '../../../src/config.ts'
import { dbKinds } from '../../helpers.ts'
import { jobFor, type SlackFixture, slackFixture } from './fixture.ts'

for (const kind of dbKinds()) {
  describe(`slack adapter (${kind})`, () => {
    let s: SlackFixture
    beforeAll(async () => {
      s = await slackFixture(kind)
    }, 60_000)
    afterAll(() => s.close())

    test('a question goes to the DM opened with conversations.open, as Block Kit; the lock edits that copy', async () => {
      const u = await s.linkedUser('ann')
      const target = `${u.slack.teamId}:${u.slack.userId}`
      const q = await s.ask(u.id, 'Ship it? [YES/NO]')
      const sent = await s.bot.adapter.send(await jobFor(s, 'question', q.questionId, target))
      expect(sent).toEqual({
        ok: true,
        externalRef: { channel: `D${u.slack.userId}`, ts: expect.any(String) },
      })
      const ref = (sent as { externalRef: { channel: string; ts: string } }).externalRef
      expect(s.fake.callsOf('conversations.open').at(-1)!.args.users).toBe(u.slack.userId)
      const copy = s.fake.messages.get(`${ref.channel}:${ref.ts}`)!
      expect(JSON.stringify(copy.blocks)).toContain('parley.option.1')
      expect(s.fake.callsOf('chat.postMessage').at(-1)!.token).toBe(s.fake.token)

      const lock = await jobFor(s, 'lock', q.questionId, target, {
        externalRef: ref,
        answer: { messageId: 'a1', content: 'Yes', by: 'ann', via: 'web', at: '' },
        summary: 'Answered by ann via the dashboard',
      })
      expect(await s.bot.adapter.send(lock)).toEqual({ ok: true, externalRef: ref })
      expect(JSON.stringify(copy.blocks)).not.toContain('parley.option')
      expect(JSON.stringify(copy.blocks)).toContain('Answered by ann via the dashboard: Yes')
    })

    test('progress posts one status message, then edits it in place', async () => {
      const u = await s.linkedUser('pat')
      const target = `${u.slack.teamId}:${u.slack.userId}`
      const q = await s.ask(u.id, 'step one')
      const first = await s.bot.adapter.send(await jobFor(s, 'progress', q.questionId, target))
      const ref = (first as { externalRef: { channel: string; ts: string } }).externalRef
      const posts = s.fake.callsOf('chat.postMessage').length
      const second = await s.bot.adapter.send(
        await jobFor(s, 'progress', q.questionId, target, {
          externalRef: ref,
          instance: { ...(await jobFor(s, 'progress', q.questionId, target)).instance, status: 'COMPLETED' },
        }),
      )
      expect(second).toEqual({ ok: true, externalRef: ref })
      expect(s.fake.callsOf('chat.postMessage').length).toBe(posts)
      expect(JSON.stringify(s.fake.messages.get(`${ref.channel}:${ref.ts}`)!.blocks)).toContain(
        'Session ended',
      )
    })

    test('429 becomes a retry after Retry-After; the client itself does not retry', async () => {
      const u = await s.linkedUser('rita')
      const q = await s.ask(u.id, 'rate me?')
      s.fake.fail('chat.postMessage', {
        status: 429,
        headers: { 'retry-after': '7' },
        body: { ok: false, error: 'ratelimited' },
      })
      const posts = s.fake.callsOf('chat.postMessage').length
      const r = await s.bot.adapter.send(await jobFor(s, 'question', q.questionId, `T1:${u.slack.userId}`))
      expect(r).toEqual({ ok: false, retry: true, error: 'ratelimited', retryAfterMs: 7000 })
      expect(s.fake.callsOf('chat.postMessage').length).toBe(posts + 1)
    })

    test('5xx and network errors retry; channel_not_found, account_inactive, invalid_auth stop and deactivate', async () => {
      const u = await s.linkedUser('fay')
      const q = await s.ask(u.id, 'fail?')
      const job = await jobFor(s, 'question', q.questionId, `T1:${u.slack.userId}`)
      s.fake.fail('chat.postMessage', { status: 503, body: { ok: false } })
      expect(await s.bot.adapter.send(job)).toMatchObject({ ok: false, retry: true, error: 'HTTP 503' })
      for (const error of ['channel_not_found', 'account_inactive', 'invalid_auth']) {
        s.fake.fail('chat.postMessage', { body: { ok: false, error } })
        expect(await s.bot.adapter.send(job)).toEqual({
          ok: false,
          retry: false,
          error,
          deactivateLink: true,
        })
      }
      s.fake.fail('chat.postMessage', { body: { ok: false, error: 'internal_error' } })
      expect(await s.bot.adapter.send(job)).toMatchObject({ ok: false, retry: true })
      // Nothing listens on the port: a network error, worth retrying.
      const gone = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
      const url = `http://127.0.0.1:${gone.port}/api/`
      gone.stop(true)
      const config = loadConfig({ SLACK_BOT_TOKEN: 'x', SLACK_SIGNING_SECRET: 'y', SLACK_API_URL: url })
      const offline = new SlackAdapter(new webApi.WebClient('x', webClientOptions(config)))
      expect(await offline.send(job)).toMatchObject({ ok: false, retry: true })
    })
  })
}
