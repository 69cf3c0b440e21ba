// What a chat shows a linked person about their agents: the running instances (/status).
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
