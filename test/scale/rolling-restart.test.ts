// A rolling restart: SIGTERM to one of two machines while agents wait on it. Each waiting agent
// gets a retryable answer (503 + Retry-After for the long-poll and the hook request, MCP's
// "restarting" tool error), goes to the other machine, and receives the answer given meanwhile.
// Nothing is lost: the hook's question stays open through the stop and is taken back, not asked twice.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { freshDatabase, hasPostgres, makeUser, type TestDb } from '../helpers.ts'
import {
  ANSWERS,
  agentClient,
  answerThree,
  type Machine,
  questionOpen,
  startMachine,
  threeWaitingAgents,
} from './machines.ts'

describe.skipIf(!hasPostgres())('rolling restart of two machines', () => {
  let testDb: TestDb
  let a: Machine
  let b: Machine
  beforeAll(async () => {
    testDb = await freshDatabase('postgres')
    ;[a, b] = await Promise.all([startMachine(testDb.url!), startMachine(testDb.url!)])
  }, 60_000)
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await testDb.drop()
  })

  test('SIGTERM on A: its waiting agents get retryable answers, move to B and get the answers given meanwhile', async () => {
    const db = testDb.database
    const alice = await makeUser(db.db, 'alice')
    const onA = agentClient(a.url, alice.key)
    const onB = agentClient(b.url, alice.key)

    const w = await threeWaitingAgents(db, onA)

    a.signal('SIGTERM')
    const rest = await w.polled
    expect(rest.status).toBe(503)
    expect(rest.headers.get('retry-after')).toBe('1')
    expect(rest.body.error.code).toBe('UNAVAILABLE')
    const ask = await w.asked
    expect(ask.isError).toBe(true)
    expect(ask.content[0]!.text).toContain('restarting')
    const hook = await w.held
    expect(hook.status).toBe(503)
    expect(hook.headers.get('retry-after')).toBe('1')
    expect(await a.exited).toBe(0)
    await w.mcp.close().catch(() => {})

    // A is gone; the questions are still open, and people answer them on B.
    await questionOpen(db, w.hookId)
    await answerThree(onB, w)

    // The agents come back through B.
    const again = await onB.poll(w.restId, w.cursor, 5)
    expect(again.body.messages.map((m: { content: string }) => m.content)).toEqual([ANSWERS.rest])
    const mcpB = await onB.mcp()
    const step = (await mcpB.callTool({
      name: 'log_step',
      arguments: { agent_instance_id: w.mcpId, step_description: 'back' },
    })) as { content: { text: string }[] }
    expect(step.content.map((c) => c.text).join('\n')).toContain(ANSWERS.mcp)
    await mcpB.close()
    const resent = await onB.hook(w.hookId)
    expect(resent.status).toBe(200)
    expect(resent.body.hookSpecificOutput.decision).toMatchObject({ behavior: 'deny' })
    expect(resent.body.hookSpecificOutput.decision.message).toContain(ANSWERS.hook)
    // Taken back, not asked twice.
    const asks = await db.query(
      `select 1 from messages where instance_id = $1 and sender = 'AGENT' and requires_user_input`,
      [w.hookId],
    )
    expect(asks).toHaveLength(1)
  }, 60_000)
})
