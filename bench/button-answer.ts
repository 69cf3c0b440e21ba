// A chat button's answer (Slack, Telegram, push) names only its question. In core, on Postgres,
// rounds alternate between the two ways to answer it: the instance read first and then the answer's
// statement (what every button did before the statement could find the instance itself), and the
// statement alone. Each round asks a new question on one instance and presses its first option.
// `bun bench/button-answer.ts`
import { and, eq } from 'drizzle-orm'
import { answerQuestion } from '../src/core/answers.ts'
import { postAgentMessage } from '../src/core/messages.ts'
import { createUser } from '../src/core/users.ts'
import { messages } from '../src/db/schema.ts'
import { createBenchDatabase, ms, percentile, startInProcess } from './lib.ts'

const WARMUP = 40
const ROUNDS = 600

const db = await createBenchDatabase()
const run = await startInProcess(db.url)
try {
  const core = run.parley.core
  const user = await createUser(core.db, {
    email: `button-${Date.now()}@example.com`,
    password: 'benchmark password',
  })
  const instanceId = crypto.randomUUID()
  const samples = { 'instance read first': [] as number[], 'statement alone': [] as number[] }
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    const asked = await postAgentMessage(core, {
      userId: user.id,
      instanceId,
      agentType: 'bench',
      content: `Go ahead with step ${i}? [YES/NO]`,
      requiresUserInput: true,
    })
    const readFirst = i % 2 === 0
    const start = performance.now()
    let named: string | undefined
    if (readFirst) {
      const [row] = await core.db
        .select({ instanceId: messages.instanceId })
        .from(messages)
        .where(and(eq(messages.id, asked.messageId), eq(messages.sender, 'AGENT')))
      named = row?.instanceId
    }
    const outcome = await answerQuestion(core, {
      actorUserId: user.id,
      ...(named ? { instanceId: named } : {}),
      questionId: asked.messageId,
      answer: { option: 0 },
      channel: 'telegram',
    })
    const took = performance.now() - start
    if (outcome.status !== 'answered') throw new Error(`round ${i}: ${JSON.stringify(outcome)}`)
    if (i >= WARMUP) samples[readFirst ? 'instance read first' : 'statement alone'].push(took)
  }
  console.log(`Button answer in core, ${ROUNDS / 2} rounds each after ${WARMUP} warm-up, alternating`)
  for (const [way, s] of Object.entries(samples)) {
    s.sort((a, b) => a - b)
    console.log(
      `  ${way}: p50 ${ms(percentile(s, 50))}, p90 ${ms(percentile(s, 90))}, p99 ${ms(percentile(s, 99))}`,
    )
  }
} finally {
  await run.parley.stop()
  await db.drop()
}
process.exit(0)
