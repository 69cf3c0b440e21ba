// POST /slack/events: only requests signed with the signing secret within five minutes get
// through; Slack's handshakes are answered; a redelivered event has one effect.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { checkSlackSignature } from '../../../bots/slack/verify.ts'
import { ConfigError, loadConfig } from '../../../src/config.ts'
import { createLinkCode } from '../../../src/core/links.ts'
import { commandBody, eventBody, FORM, JSON_TYPE, slackRequest, slackSignature } from '../../fakes/slack.ts'
import { dbKinds, makeUser, testApp } from '../../helpers.ts'
import { newSlackUser, SIGNING_SECRET, type SlackFixture, slackFixture } from './fixture.ts'

test('signature check: Slack example, wrong secret, tampered body, skew', () => {
  const now = 1_700_000_000_000
  const body = 'token=x&team_id=T1&command=%2Fparley&text=status'
  const headers = (sig: string, ts = now / 1000) =>
    new Headers({ 'x-slack-signature': sig, 'x-slack-request-timestamp': String(ts) })
  const good = slackSignature(SIGNING_SECRET, now / 1000, body)
  expect(checkSlackSignature(SIGNING_SECRET, headers(good), body, now)).toBeNull()
  expect(checkSlackSignature('other-secret', headers(good), body, now)).toBe('bad_signature')
  expect(checkSlackSignature(SIGNING_SECRET, headers(good), `${body}&x=1`, now)).toBe('bad_signature')
  expect(checkSlackSignature(SIGNING_SECRET, headers('v0=short'), body, now)).toBe('bad_signature')
  expect(checkSlackSignature(SIGNING_SECRET, new Headers(), body, now)).toBe('missing_headers')
  const old = now / 1000 - 301
  expect(
    checkSlackSignature(SIGNING_SECRET, headers(slackSignature(SIGNING_SECRET, old, body), old), body, now),
  ).toBe('stale_timestamp')
  const within = now / 1000 - 299
  expect(
    checkSlackSignature(
      SIGNING_SECRET,
      headers(slackSignature(SIGNING_SECRET, within, body), within),
      body,
      now,
    ),
  ).toBeNull()
})

for (const kind of dbKinds()) {
  describe(`slack events endpoint (${kind})`, () => {
    let s: SlackFixture
    beforeAll(async () => {
      s = await slackFixture(kind)
    }, 60_000)
    afterAll(() => s.close())

    const linkCount = async () =>
      (
        await s.database.query<{ n: number }>(
          `select count(*)::int as n from channel_links where channel = 'slack'`,
        )
      )[0]!.n

    test('bad signature, missing headers, stale timestamp: 401 and the link code is not used', async () => {
      const user = await makeUser(s.database.db, 'mallory-target')
      const code = await createLinkCode(s.database.db, user.id, 'slack')
      const who = newSlackUser()
      const body = commandBody({
        command: '/parley',
        text: `link ${code}`,
        team_id: who.teamId,
        user_id: who.userId,
        response_url: s.fake.responseUrl(),
      })
      const before = await linkCount()
      const calls = s.fake.calls.length
      const attempts = [
        { signature: slackSignature('wrong-secret', Math.floor(Date.now() / 1000), body) },
        { signature: null },
        { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 },
      ]
      for (const opts of attempts) {
        const res = await s.send(body, FORM, opts)
        expect(res.status).toBe(401)
        const json = (await res.json()) as { error: { code: string; message: string } }
        expect(json.error.code).toBe('UNAUTHORIZED')
      }
      expect(await linkCount()).toBe(before)
      expect(s.fake.calls.length).toBe(calls)
      // The same code, properly signed, still works: the refused attempts used nothing.
      const ok = await s.command(who, `link ${code}`)
      expect(ok.status).toBe(200)
      expect(ok.replies[0]).toContain('Linked')
      expect(await linkCount()).toBe(before + 1)
    })

    test('a signature over a different body is refused (the raw body is what is signed)', async () => {
      const body = JSON.stringify({ type: 'url_verification', challenge: 'abc' })
      const ts = Math.floor(Date.now() / 1000)
      const signature = slackSignature(
        SIGNING_SECRET,
        ts,
        JSON.stringify({ type: 'url_verification', challenge: 'abd' }),
      )
      const res = await s.send(body, JSON_TYPE, { timestamp: ts, signature })
      expect(res.status).toBe(401)
    })

    test('url_verification echoes the challenge; ssl_check gets 200', async () => {
      const res = await s.send(
        JSON.stringify({ type: 'url_verification', token: 't', challenge: 'c-123' }),
        JSON_TYPE,
      )
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ challenge: 'c-123' })
      const ssl = await s.send('ssl_check=1&token=t', FORM)
      expect(ssl.status).toBe(200)
    })

    test('a retried event (X-Slack-Retry-Num) has one effect', async () => {
      const who = newSlackUser()
      const body = eventBody(
        {
          type: 'message',
          channel_type: 'im',
          channel: `D${who.userId}`,
          user: who.userId,
          text: 'hello',
          ts: '1.1',
        },
        'EvRetry1',
      )
      const ephemerals = () =>
        s.fake.callsOf('chat.postEphemeral').filter((c) => c.args.user === who.userId).length
      expect((await s.send(body, JSON_TYPE)).status).toBe(200)
      expect(ephemerals()).toBe(1) // unlinked: told to link
      expect((await s.send(body, JSON_TYPE, { retryNum: 1 })).status).toBe(200)
      expect((await s.send(body, JSON_TYPE, { retryNum: 2 })).status).toBe(200)
      expect(ephemerals()).toBe(1)
      const rows = await s.database.query(
        `select 1 from processed_updates where source = 'slack' and external_id = 'EvRetry1'`,
      )
      expect(rows).toHaveLength(1)
    })

    test('an unsigned request when Slack is configured never reaches Bolt; a body that is not Slack gets 400, an oversized one 413', async () => {
      const res = await s.app.handle(
        new Request('http://parley.test/slack/events', {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': JSON_TYPE },
        }),
      )
      expect(res.status).toBe(401)
      const bad = await s.send('[1,2]', JSON_TYPE)
      expect(bad.status).toBe(400)
      const huge = JSON.stringify({ type: 'url_verification', challenge: 'x'.repeat(1024 * 1024) })
      expect((await s.send(huge, JSON_TYPE)).status).toBe(413)
    })
  })
}

test('without a Slack token the route answers 404 and Parley runs', async () => {
  const t = await testApp('pglite')
  try {
    const body = JSON.stringify({ type: 'url_verification', challenge: 'x' })
    const res = await t.app.handle(slackRequest(SIGNING_SECRET, body, JSON_TYPE))
    expect(res.status).toBe(404)
    const health = await t.app.handle(new Request('http://parley.test/healthz'))
    expect(health.status).toBe(200)
  } finally {
    await t.close()
  }
}, 30_000)

test('configuration: a bot token needs a signing secret, unless Socket Mode has an app token', () => {
  expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(ConfigError)
  expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/SLACK_SIGNING_SECRET/)
  expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }).slack.appToken).toBe('xapp-1')
  expect(() => loadConfig({ SLACK_API_URL: 'not a url' })).toThrow(/SLACK_API_URL/)
})
