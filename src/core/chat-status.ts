// What a chat shows a linked person about their agents: the running instances (/status) and the
// state of one question (before a button or reply is taken as its answer).
import { sql } from 'drizzle-orm'
import { type Db, resultRows } from '../db/client.ts'
import { liveSql } from './statuses.ts'

/** Instances the user owns or may write to that are still running, most recently active first. */
export async function activeInstances(db: Db, userId: string) {
  return resultRows<{ id: string; name: string | null; agentType: string; status: string }>(
    await db.execute(sql`
      select i.id, i.name, t.name as "agentType", i.status
      from agent_instances i join agent_types t on t.id = i.agent_type_id
      where ${liveSql('i.status')}
        and (i.user_id = ${userId} or i.id in (
          select instance_id from instance_access where user_id = ${userId} and access = 'WRITE'))
      order by i.last_activity_at desc
      limit 20`),
  )
}

/**
 * A question's instance and whether (and by whom, how) it was answered; null when it does not
 * exist or `userId` may not see it (neither its owner nor shared with).
 */
export async function questionStatus(db: Db, questionId: string, userId: string) {
  const [row] = resultRows<{
    instanceId: string
    answered: boolean
    by: string | null
    via: string | null
    options: string[] | null
  }>(
    await db.execute(sql`
      select m.instance_id as "instanceId", m.answered_at is not null as answered,
        coalesce(u.display_name, u.email) as by, m.answered_via as via, m.options
      from messages m left join users u on u.id = m.answered_by
      where m.id = ${questionId} and m.sender = 'AGENT' and m.requires_user_input
        and (m.user_id = ${userId} or exists (select 1 from instance_access a
          where a.instance_id = m.instance_id and a.user_id = ${userId}))`),
  )
  return row ?? null
}
