// Answers that arrive from a chat (a button, a reply form, a reply to one copy of a question):
// the question is named by the chat, the person by their link. Authorisation stays in
// postUserMessage (owner or WRITE-shared), and a refused or late answer is reported as data.
import { and, asc, eq, isNull, or, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { agentInstances, agentTypes, deliveries, instanceAccess, messages, users } from '../db/schema.ts'
import { hasCode } from '../errors.ts'
import type { Core } from './context.ts'
import { postUserMessage } from './messages.ts'
import { parseQuestion } from './questions.ts'

export type ChatAnswerInput = {
  actorUserId: string
  questionId: string
  /** A button carries the option's index; the answer is then exactly that option's text. */
  answer: { option: number } | { text: string }
  channel: string
}

export type ChatAnswerResult =
  | { status: 'answered'; answer: string }
  | { status: 'already'; by: string | null; via: string | null; answer: string | null }
  /** Timed out before anyone answered. */
  | { status: 'closed' }
  /** Not this person's question (or no such question, or an option that does not exist). */
  | { status: 'refused' }

/** "Display name" or email of a user, for "answered by …". */
export async function userLabel(db: Db, userId: string | null): Promise<string | null> {
  if (!userId) return null
  const [row] = await db
    .select({ name: users.displayName, email: users.email })
    .from(users)
    .where(eq(users.id, userId))
  return row ? row.name || row.email : null
}

/** Instances a user may answer on: their own, and those shared with them for WRITE. */
const mayAnswer = (userId: string) =>
  or(
    eq(agentInstances.userId, userId),
    sql`exists (select 1 from ${instanceAccess} a where a.instance_id = ${agentInstances.id}
      and a.user_id = ${userId} and a.access = 'WRITE')`,
  )

export type AnswerableQuestion = {
  question: string
  answered: { by: string | null; via: string | null; answer: string | null } | null
}

/** A question the user may answer (for showing it in a reply form), or null when it is not theirs. */
export async function answerableQuestion(
  db: Db,
  userId: string,
  questionId: string,
): Promise<AnswerableQuestion | null> {
  const [q] = await db
    .select({
      content: messages.content,
      answerId: messages.answerMessageId,
      by: messages.answeredBy,
      via: messages.answeredVia,
    })
    .from(messages)
    .innerJoin(agentInstances, eq(agentInstances.id, messages.instanceId))
    .where(and(eq(messages.id, questionId), eq(messages.requiresUserInput, true), mayAnswer(userId)))
  if (!q) return null
  const question = parseQuestion(q.content).text
  if (!q.answerId) return { question, answered: null }
  return { question, answered: await describeAnswer(db, q.answerId, q.by, q.via) }
}

async function describeAnswer(db: Db, answerId: string, by: string | null, via: string | null) {
  const [first] = await db
    .select({ content: messages.content })
    .from(messages)
    .where(eq(messages.id, answerId))
  return { by: await userLabel(db, by), via, answer: first?.content ?? null }
}

export async function answerFromChat(core: Core, input: ChatAnswerInput): Promise<ChatAnswerResult> {
  const [q] = await core.db
    .select({ instanceId: messages.instanceId, options: messages.options, content: messages.content })
    .from(messages)
    .where(
      and(
        eq(messages.id, input.questionId),
        eq(messages.sender, 'AGENT'),
        eq(messages.requiresUserInput, true),
      ),
    )
  if (!q) return { status: 'refused' }
  const content =
    'option' in input.answer
      ? (q.options ?? parseQuestion(q.content).options)?.[input.answer.option]
      : input.answer.text.trim()
  if (!content) return { status: 'refused' }
  let result: Awaited<ReturnType<typeof postUserMessage>>
  try {
    result = await postUserMessage(core, {
      actorUserId: input.actorUserId,
      instanceId: q.instanceId,
      content,
      markAsRead: false,
      channel: input.channel,
      questionId: input.questionId,
      allowShared: true,
    })
  } catch (err) {
    if (hasCode(err, 'FORBIDDEN', 'NOT_FOUND')) return { status: 'refused' }
    throw err
  }
  if (!result.alreadyAnswered) return { status: 'answered', answer: content }
  const { by, via, answerId } = result.alreadyAnswered
  if (!answerId) return { status: 'closed' }
  return { status: 'already', ...(await describeAnswer(core.db, answerId, by, via)) }
}

/** The question a chat message copy belongs to, by the copy's external ref (e.g. Slack channel + ts). */
export async function questionOfCopy(db: Db, channel: string, ref: Record<string, string>) {
  const [row] = await db
    .select({ questionId: deliveries.messageId })
    .from(deliveries)
    .where(
      and(
        eq(deliveries.channel, channel),
        eq(deliveries.kind, 'question'),
        sql`${deliveries.externalRef} @> ${JSON.stringify(ref)}::jsonb`,
      ),
    )
    .limit(1)
  return row?.questionId ?? null
}

export type OpenQuestion = {
  id: string
  instanceId: string
  instanceName: string | null
  agentType: string
  question: string
  createdAt: string
}

/** Unanswered questions the user may answer (own instances and WRITE-shared ones), oldest first. */
export async function openQuestions(db: Db, userId: string): Promise<OpenQuestion[]> {
  const rows = await db
    .select({
      id: messages.id,
      instanceId: messages.instanceId,
      instanceName: agentInstances.name,
      agentType: agentTypes.name,
      content: messages.content,
      createdAt: messages.createdAt,
    })
    .from(messages)
    .innerJoin(agentInstances, eq(agentInstances.id, messages.instanceId))
    .innerJoin(agentTypes, eq(agentTypes.id, agentInstances.agentTypeId))
    .where(
      and(
        eq(messages.requiresUserInput, true),
        isNull(messages.answeredAt),
        or(isNull(messages.timeoutAt), sql`${messages.timeoutAt} > now()`),
        sql`${agentInstances.status} <> 'DELETED'`,
        mayAnswer(userId),
      ),
    )
    .orderBy(asc(messages.id))
    .limit(50)
  return rows.map((r) => ({
    id: r.id,
    instanceId: r.instanceId,
    instanceName: r.instanceName,
    agentType: r.agentType,
    question: parseQuestion(r.content).text,
    createdAt: r.createdAt,
  }))
}
