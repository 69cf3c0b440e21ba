// With SLACK_APP_TOKEN the same Bolt app takes its events over a Socket Mode WebSocket instead of
// HTTP: the connection is opened through SLACK_API_URL, commands are acked over the socket, and
// POST /slack/events is not served.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createSlackBot, type SlackBot } from '../../../bots/slack/bot.ts'
import { loadConfig } from '../../../src/config.ts'
import { createLinkCode } from '../../../src/core/links.ts'
import { FakeSlack, JSON_TYPE, slackRequest } from '../../fakes/slack.ts'
import { makeUser, type TestApp, testApp } from '../../helpers.ts'
import { SIGNING_SECRET } from './fixture.ts'

let fake: FakeSlack
let t: TestApp
let bot: SlackBot | null = null
beforeAll(async () => {
  fake = new FakeSlack()
  const config = loadConfig({
    SLACK_BOT_TOKEN: fake.token,
    SLACK_APP_TOKEN: fake.appToken,
    SLACK_API_URL: fake.apiUrl,
  })
  t = await testApp('pglite', {
    extend: (core) => {
      bot = createSlackBot({ config, core, baseUrl: () => 'http://parley.test', log: () => {} })
      return { slack: bot }
    },
  })
  await bot!.start()
}, 60_000)
afterAll(async () => {
  await bot?.stop()
  fake.stop()
  await t.close()
})

test('Socket Mode: connects through SLACK_API_URL, links by slash command, acks on the socket', async () => {
  expect(bot!.receiver).toBeNull()
  await fake.until(() => fake.socketCount > 0)
  expect(fake.callsOf('apps.connections.open')[0]!.token).toBe(fake.appToken)
  const user = await makeUser(t.database.db, 'sock')
  const code = await createLinkCode(t.database.db, user.id, 'slack')
  const responseUrl = fake.responseUrl()
  const envelope = fake.pushEnvelope('slash_commands', {
    command: '/parley',
    text: `link ${code}`,
    team_id: 'T1',
    user_id: 'USOCK',
    channel_id: 'DUSOCK',
    response_url: responseUrl,
  })
  await fake.until(() => fake.socketAcks.find((a) => a.envelope_id === envelope))
  const reply = await fake.until(() => fake.responses.find((r) => r.url === responseUrl))
  expect(String(reply.body.text)).toContain('Linked')
  const rows = await t.database.query(
    `select 1 from channel_links where channel = 'slack' and external_user_id = 'USOCK' and user_id = $1`,
    [user.id],
  )
  expect(rows).toHaveLength(1)
  const http = await t.app.handle(
    slackRequest(SIGNING_SECRET, JSON.stringify({ type: 'url_verification' }), JSON_TYPE),
  )
  expect(http.status).toBe(404)
}, 30_000)
