// `parley hook` during a rolling restart: a machine that stops while the request waits answers
// 503 with Retry-After; the same request, sent again, reaches a running machine and its answer is
// printed. (Server side: test/scale/rolling-restart.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { runCli } from './run-cli.ts'

describe('parley hook when a machine stops', () => {
  const bodies: string[] = []
  let server: ReturnType<typeof Bun.serve>
  const decision = {
    hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } },
  }
  beforeAll(() => {
    server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: async (req) => {
        if (new URL(req.url).pathname === '/healthz') return Response.json({ status: 'ok' })
        bodies.push(await req.text())
        if (bodies.length === 1)
          return Response.json(
            { error: { code: 'UNAVAILABLE', message: 'Parley is restarting' } },
            { status: 503, headers: { 'retry-after': '1' } },
          )
        return Response.json(decision)
      },
    })
  })
  afterAll(() => server.stop(true))

  test('a 503 is sent again, with the same body, and the answer that follows is printed', async () => {
    const stdin = JSON.stringify({
      hook_event_name: 'PermissionRequest',
      session_id: 's-1',
      tool_name: 'Bash',
    })
    const run = await runCli(['hook'], {
      env: { PARLEY_URL: `http://127.0.0.1:${server.port}`, PARLEY_API_KEY: 'prl_test' },
      stdin,
    })
    expect(run.code).toBe(0)
    expect(bodies).toEqual([stdin, stdin])
    expect(JSON.parse(run.stdout)).toEqual(decision)
  }, 20_000)
})
