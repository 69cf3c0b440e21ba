// Which question a chat message is about: the question a copy belongs to, and the questions a
// person could answer with a bare message. Answering itself is answerQuestion (answers.ts).
import { and, asc, eq, isNull, or, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { agentInstances, agentTypes, deliveries, instanceAccess, messages } from '../db/schema.ts'
import { parseQuestion } from './questions.ts'

/** Instances a user may answer on: their own, and those shared with them for WRITE. */
const mayAnswer = (userId: string) =>
  or(
    eq(agentInstances.userId, userId),
    sql`exists (select 1 from ${instanceAccess} a where a.instance_id = ${agentInstances.id}
      and a.user_id = ${userId} and a.access = 'WRITE')`,
  )

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
