// Answers by button and by the Reply modal. A button answers with exactly its option's text; the
// Reply button opens a modal carrying the question id in private_metadata. Whoever presses must
// be the question's owner or WRITE-shared (checked in core); a late press hears who answered first.
import type { App } from '@slack/bolt'
import { answerNotice } from '../../src/core/answer-wording.ts'
import {
  type AnswerOutcome,
  answerQuestion,
  type QuestionToAnswer,
  questionToAnswer,
} from '../../src/core/answers.ts'
import {
  ANSWER_BLOCK,
  escapeMrkdwn,
  OPTION_ACTION,
  parseOptionValue,
  REPLY_ACTION,
  REPLY_VIEW,
  replyModal,
} from './blocks.ts'
import { identity, LINK_HINT, parleyUser, type SlackContext } from './context.ts'

/** What to tell the person when their answer did not count (null: it did), as mrkdwn. */
export function outcomeText(outcome: AnswerOutcome | QuestionToAnswer): string | null {
  const notice = answerNotice(outcome)
  return notice === null ? null : escapeMrkdwn(notice)
}

const INVALID_BUTTON = 'This button is no longer valid.'

type ActionBody = {
  user: { id: string; team_id?: string }
  team?: { id: string } | null
  trigger_id?: string
}
const actor = (body: ActionBody) => identity(body.team?.id ?? body.user.team_id, body.user.id)

export function registerAnswering(app: App, ctx: SlackContext): void {
  app.action(OPTION_ACTION, async ({ ack, body, action, respond }) => {
    await ack()
    const say = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text })
    const userId = await parleyUser(ctx, actor(body as ActionBody))
    if (!userId) return void (await say(LINK_HINT))
    const ref = parseOptionValue('value' in action && typeof action.value === 'string' ? action.value : '')
    if (!ref) return void (await say(INVALID_BUTTON))
    const result = await answerQuestion(ctx.core, {
      actorUserId: userId,
      questionId: ref.questionId,
      answer: { option: ref.option },
      channel: 'slack',
      allowShared: true,
    })
    const text = outcomeText(result)
    if (text) await say(text)
  })

  app.action(REPLY_ACTION, async ({ ack, body, action, respond, client }) => {
    await ack()
    const say = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text })
    const userId = await parleyUser(ctx, actor(body as ActionBody))
    if (!userId) return void (await say(LINK_HINT))
    const questionId = 'value' in action && typeof action.value === 'string' ? action.value : ''
    const q = await questionToAnswer(ctx.core, userId, questionId)
    if (q.status !== 'open') return void (await say(outcomeText(q)!))
    const triggerId = (body as ActionBody).trigger_id
    if (triggerId)
      await client.views.open({ trigger_id: triggerId, view: replyModal(questionId, q.question) })
  })

  // The modal's answer is checked and saved before the ack, because only the ack can show an
  // error inside the modal; it is one short transaction, well within Slack's 3 s.
  app.view(REPLY_VIEW, async ({ ack, body, view }) => {
    const error = (text: string) => ack({ response_action: 'errors', errors: { [ANSWER_BLOCK]: text } })
    const text = view.state.values[ANSWER_BLOCK]?.[ANSWER_BLOCK]?.value?.trim() ?? ''
    if (!text) return error('Write an answer before sending.')
    const userId = await parleyUser(ctx, actor(body as ActionBody))
    if (!userId) return error(LINK_HINT)
    const result = await answerQuestion(ctx.core, {
      actorUserId: userId,
      questionId: view.private_metadata,
      answer: { text },
      channel: 'slack',
      allowShared: true,
    })
    // Modal errors are plain text: the notice as core words it.
    const problem = answerNotice(result)
    return problem ? error(problem) : ack()
  })
}
