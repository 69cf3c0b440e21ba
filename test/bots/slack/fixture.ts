// A Parley app with its Slack bot pointed at a local fake Slack Web API, plus builders for the
// requests Slack sends (signed with the signing secret exactly as Slack does).
import { createSlackBot, type SlackBot } from '../../../bots/slack/bot.ts'
import { loadConfig } from '../../../src/config.ts'
import { createLinkCode } from '../../../src/core/links.ts'
import { postAgentMessage } from '../../../src/core/messages.ts'
import { hasEnded } from '../../../src/core/statuses.ts'
import type { DeliveryJob } from '../../../src/notify/channel.ts'
import {
  commandBody,
  eventBody,
  FakeSlack,
  FORM,
  interactionBody,
  JSON_TYPE,
  type SignedOptions,
  slackRequest,
} from '../../fakes/slack.ts'
import { type DbKind, makeUser, type TestApp, testApp, uuid } from '../../helpers.ts'

export const SIGNING_SECRET = 'test-signing-secret-0123456789'
export const BASE_URL = 'http://parley.test'

export type SlackFixture = TestApp & {
  fake: FakeSlack
  bot: SlackBot
  /** Sends a signed request to POST /slack/events; waits for the work after the ack too. */
  send(body: string, contentType: string, opts?: SignedOptions): Promise<Response>
  command(who: SlackUser, text: string): Promise<Reply>
  dm(who: SlackUser, text: string, extra?: Record<string, unknown>): Promise<Reply>
  press(who: SlackUser, actionId: string, value: string, label?: string): Promise<Reply>
  submit(who: SlackUser, questionId: string, answer: string): Promise<Reply>
  /** A Parley user linked to a fresh Slack user. */
  linkedUser(label: string): Promise<Awaited<ReturnType<typeof makeUser>> & { slack: SlackUser }>
  ask(
    userId: string,
    content: string,
    options?: string[],
  ): Promise<{ instanceId: string; questionId: string }>
  close(): Promise<void>
}

/** An outbox job for a message, read from the database the way the outbox reads it. */
export async function jobFor(
  t: TestApp,
  kind: DeliveryJob['kind'],
  messageId: string,
  target: string,
  extra: Partial<DeliveryJob> = {},
): Promise<DeliveryJob> {
  const [row] = await t.database.query<{
    instance_id: string
    user_id: string
    name: string | null
    agent_type: string
    status: string
    content: string
    options: string[] | null
    created_at: string
  }>(
    `select m.instance_id, i.user_id, i.name, a.name as agent_type, i.status, m.content, m.options, m.created_at::text
     from messages m join agent_instances i on i.id = m.instance_id join agent_types a on a.id = i.agent_type_id
     where m.id = $1`,
    [messageId],
  )
  if (!row) throw new Error(`no message ${messageId}`)
  return {
    id: uuid(),
    kind,
    channel: 'slack',
    target,
    recipientUserId: row.user_id,
    attempts: 0,
    externalRef: null,
    payload: null,
    instance: {
      id: row.instance_id,
      name: row.name,
      agentType: row.agent_type,
      status: row.status,
      ended: hasEnded(row.status),
      url: `${BASE_URL}/instances/${row.instance_id}`,
    },
    message: { id: messageId, content: row.content, options: row.options, createdAt: row.created_at },
    answer: null,
    summary: null,
    ...extra,
  }
}

export type SlackUser = { teamId: string; userId: string }
/** What Slack got back: the HTTP answer, and the ephemeral messages the person was then shown. */
export type Reply = { status: number; body: string; replies: string[] }
let slackSeq = 0
export const newSlackUser = (teamId = 'T1'): SlackUser => ({
  teamId,
  userId: `U${++slackSeq}${uuid().slice(0, 4)}`,
})

export async function slackFixture(kind: DbKind): Promise<SlackFixture> {
  const fake = new FakeSlack()
  const config = loadConfig({
    SLACK_BOT_TOKEN: fake.token,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
  })
  let bot: SlackBot | null = null
  const t = await testApp(kind, {
    extend: (core) => {
      bot = createSlackBot({ config, core, baseUrl: () => BASE_URL, log: () => {} })
      return { slack: bot }
    },
  })
  const theBot = bot as SlackBot | null
  if (!theBot?.receiver) throw new Error('the Slack bot was not created')
  const receiver = theBot.receiver

  const send = async (body: string, contentType: string, opts?: SignedOptions) => {
    const res = await t.app.handle(slackRequest(SIGNING_SECRET, body, contentType, opts))
    await receiver.settled()
    return res
  }
  /** Sends, then collects what was posted to `responseUrl` and ephemerals to `who`. */
  const exchange = async (who: SlackUser, responseUrl: string | null, body: string, contentType: string) => {
    const calls = fake.calls.length
    const responses = fake.responses.length
    const res = await send(body, contentType)
    const replies = [
      ...fake.responses.slice(responses).flatMap((r) => (r.url === responseUrl ? [String(r.body.text)] : [])),
      ...fake.calls
        .slice(calls)
        .flatMap((c) =>
          c.method === 'chat.postEphemeral' && c.args.user === who.userId ? [String(c.args.text)] : [],
        ),
    ]
    return { status: res.status, body: await res.text(), replies }
  }
  const f: SlackFixture = {
    ...t,
    fake,
    bot: theBot,
    send,
    command: (who, text, url = fake.responseUrl()) =>
      exchange(
        who,
        url,
        commandBody({
          command: '/parley',
          text,
          team_id: who.teamId,
          user_id: who.userId,
          channel_id: `D${who.userId}`,
          trigger_id: 'trigger.1',
          response_url: url,
        }),
        FORM,
      ),
    dm: (who, text, extra = {}) => {
      const event = {
        type: 'message',
        channel_type: 'im',
        channel: `D${who.userId}`,
        user: who.userId,
        text,
        ts: (Date.now() / 1000).toFixed(6),
        ...extra,
      }
      fake.received(event)
      return exchange(who, null, eventBody(event), JSON_TYPE)
    },
    press: (who, actionId, value, label = 'Button', url = fake.responseUrl()) =>
      exchange(
        who,
        url,
        interactionBody({
          type: 'block_actions',
          user: { id: who.userId, team_id: who.teamId },
          team: { id: who.teamId },
          trigger_id: `trigger.${uuid().slice(0, 6)}`,
          response_url: url,
          container: { type: 'message', channel_id: `D${who.userId}` },
          channel: { id: `D${who.userId}` },
          actions: [
            {
              type: 'button',
              action_id: actionId,
              block_id: 'parley.answer.0',
              text: { type: 'plain_text', text: label },
              value,
              action_ts: '1.2',
            },
          ],
        }),
        FORM,
      ),
    submit: (who, questionId, answer) =>
      exchange(
        who,
        null,
        interactionBody({
          type: 'view_submission',
          user: { id: who.userId, team_id: who.teamId },
          team: { id: who.teamId },
          view: {
            id: 'V1',
            type: 'modal',
            callback_id: 'parley.reply',
            private_metadata: questionId,
            state: { values: { answer: { answer: { type: 'plain_text_input', value: answer } } } },
          },
        }),
        FORM,
      ),
    linkedUser: async (label) => {
      const user = await makeUser(t.database.db, label)
      const slack = newSlackUser()
      const code = await createLinkCode(t.database.db, user.id, 'slack')
      const res = await f.command(slack, `link ${code}`)
      if (res.status !== 200) throw new Error(`link failed: ${res.status}`)
      return { ...user, slack }
    },
    ask: async (userId, content, options) => {
      const instanceId = uuid()
      const r = await postAgentMessage(t.core, {
        userId,
        instanceId,
        agentType: 'claude',
        content,
        requiresUserInput: true,
        options: options ?? null,
      })
      return { instanceId, questionId: r.messageId }
    },
    close: async () => {
      await receiver.settled()
      fake.stop()
      await t.close()
    },
  }
  return f
}
