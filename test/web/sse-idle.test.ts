// Bun.serve closes a request that sends nothing for its idleTimeout. A dashboard's SSE stream is
// exempt: held idle well past a short idleTimeout, it still carries the next update.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { postAgentMessage } from '../../src/core/messages.ts'
import { makeUser, type TestApp, testApp, uuid } from '../helpers.ts'
import { webLogin } from './helpers.ts'

const IDLE_TIMEOUT_S = 2

describe('SSE past the idle timeout', () => {
  let t: TestApp
  let base: string
  beforeAll(async () => {
    t = await testApp('pglite')
    t.app.listen({ port: 0, hostname: '127.0.0.1', idleTimeout: IDLE_TIMEOUT_S })
    base = `http://127.0.0.1:${t.app.server!.port}`
  }, 60_000)
  afterAll(async () => {
    await t.app.stop(true)
    await t.close()
  })

  test(`an inbox stream idle for ${IDLE_TIMEOUT_S * 2} s still gets the update`, async () => {
    const user = await makeUser(t.database.db, 'idle')
    const { cookie } = await webLogin(t.app, user.email, 'correct horse battery')
    const res = await fetch(`${base}/events/inbox`, { headers: { cookie } })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    expect(decoder.decode((await reader.read()).value)).toContain(': connected')
    await Bun.sleep(IDLE_TIMEOUT_S * 2000)
    await postAgentMessage(t.core, {
      userId: user.id,
      instanceId: uuid(),
      agentType: 'claude',
      content: 'still there?',
      requiresUserInput: false,
    })
    let text = ''
    while (!text.includes('still there?')) {
      const chunk = await reader.read()
      if (chunk.done) throw new Error(`stream closed; got ${JSON.stringify(text)}`)
      text += decoder.decode(chunk.value)
    }
    await reader.cancel()
    expect(text).toContain('still there?')
  }, 20_000)
})
