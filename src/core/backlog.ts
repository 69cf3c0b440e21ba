// What is waiting on the whole deployment, read in one statement for /metrics: open questions
// (the one rule in open-questions.ts) and outbox rows still to send, by channel.
import { sql } from 'drizzle-orm'
import { type Db, resultRows } from '../db/client.ts'
import { openQuestionSql } from './open-questions.ts'

export type Backlog = { openQuestions: number; outbox: { channel: string; pending: number }[] }

export async function readBacklog(db: Db): Promise<Backlog> {
  const rows = resultRows<{ what: string; channel: string | null; n: number | string }>(
    await db.execute(sql`
      select 'questions' as what, null as channel, count(*) as n from messages where ${openQuestionSql()}
      union all
      select 'outbox', channel, count(*) from deliveries where state = 'pending' group by channel`),
  )
  return {
    openQuestions: Number(rows.find((r) => r.what === 'questions')?.n ?? 0),
    outbox: rows
      .filter((r) => r.what === 'outbox' && r.channel !== null)
      .map((r) => ({ channel: r.channel!, pending: Number(r.n) })),
  }
}
