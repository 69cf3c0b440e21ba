// `parley hook` as the agent runs it: what it sends, what it prints, and that a missing, silent or
// refusing server never blocks the agent (nothing on stdout, exit 0, one line on stderr, fast).
import { afterAll, describe, expect, test } from 'bun:test'
import { runCli } from './run-cli.ts'

type Seen = { path: string; query: string; auth: string | null; type: string | null; body: string }

/** A stand-in for the server's /hooks endpoints that answers whatever the test sets. */
function fakeHooks(answer: (seen: Seen) => Response | Promise<Response>) {
  const seen: Seen[] = []
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (req) => {
      const url = new URL(req.url)
      if (url.pathname === '/healthz') return Response.json({ status: 'ok' })
      const s = {
        path: url.pathname,
        query: url.search,
        auth: req.headers.get('authorization'),
        type: req.headers.get('content-type'),
        body: await req.text(),
      }
      seen.push(s)
      return answer(s)
    },
  })
  return { seen, url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) }
}

const stop = {
  session_id: '9b1f4f4e-3c8e-4d57-9a51-7d1c2e0c0a11',
  transcript_path: '/tmp/t.jsonl',
  cwd: '/work/app',
  hook_event_name: 'Stop',
  stop_hook_active: false,
  last_assistant_message: 'Done.',
}

describe('parley hook', () => {
  const stops: (() => void)[] = []
  afterAll(() => {
    for (const s of stops) s()
  })

  test('posts stdin unchanged to /hooks/<agent> with the key, and prints the decision', async () => {
    const decision = { decision: 'block', reason: 'also add a test' }
    const fake = fakeHooks(() => Response.json(decision))
    stops.push(fake.stop)
    const payload = JSON.stringify(stop)
    const r = await runCli(['hook', '--agent', 'codex', '--timeout', '600'], {
      env: { PARLEY_URL: fake.url, PARLEY_API_KEY: 'prl_test' },
      stdin: payload,
    })
    expect(r).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(r.stdout)).toEqual(decision)
    expect(fake.seen).toEqual([
      {
        path: '/hooks/codex',
        query: '?timeout=600',
        auth: 'Bearer prl_test',
        type: 'application/json',
        body: payload,
      },
    ])
  })

  test('"no decision" prints nothing, so a SessionStart adds nothing to the context', async () => {
    const fake = fakeHooks(() => Response.json({}))
    stops.push(fake.stop)
    const r = await runCli(['hook'], {
      env: { PARLEY_URL: fake.url, PARLEY_API_KEY: 'prl_test' },
      stdin: JSON.stringify({ ...stop, hook_event_name: 'SessionStart', source: 'startup' }),
    })
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' })
    expect(fake.seen[0]?.path).toBe('/hooks/claude-code')
  })

  test('--url overrides PARLEY_URL (hooks written for one server keep using it)', async () => {
    const fake = fakeHooks(() => Response.json({}))
    stops.push(fake.stop)
    const r = await runCli(['hook', '--url', fake.url], {
      env: { PARLEY_URL: 'http://127.0.0.1:9', PARLEY_API_KEY: 'prl_test' },
      stdin: JSON.stringify(stop),
    })
    expect(r.code).toBe(0)
    expect(fake.seen).toHaveLength(1)
  })

  test('a request the server holds (an open question) is waited for, however long', async () => {
    let release!: () => void
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const allow = {
      hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } },
    }
    const fake = fakeHooks(async () => {
      await held
      return Response.json(allow)
    })
    stops.push(fake.stop)
    const run = runCli(['hook'], {
      env: { PARLEY_URL: fake.url, PARLEY_API_KEY: 'prl_test' },
      stdin: JSON.stringify({ ...stop, hook_event_name: 'PermissionRequest' }),
    })
    // Past the moment the adapter checks the server is still there, then answer.
    setTimeout(release, 3500)
    const r = await run
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual(allow)
    expect(r.ms).toBeGreaterThan(3400)
  }, 15_000)

  test('server down: nothing on stdout, exit 0 at once, one line on stderr', async () => {
    const r = await runCli(['hook'], {
      env: { PARLEY_URL: 'http://127.0.0.1:9', PARLEY_API_KEY: 'prl_test' },
      stdin: JSON.stringify(stop),
    })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('cannot reach http://127.0.0.1:9')
    expect(r.ms).toBeLessThan(3000)
  })

  test('a server that accepts the connection and never answers is given up within a few seconds', async () => {
    const sockets: { end(): void }[] = []
    const silent = Bun.listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: { open: (s) => void sockets.push(s), data: () => {} },
    })
    stops.push(() => {
      for (const s of sockets) s.end()
      silent.stop(true)
    })
    const r = await runCli(['hook'], {
      env: { PARLEY_URL: `http://127.0.0.1:${silent.port}`, PARLEY_API_KEY: 'prl_test' },
      stdin: JSON.stringify(stop),
    })
    expect(r).toMatchObject({ code: 0, stdout: '' })
    expect(r.stderr).toContain('did not answer')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    // Without the give-up the hook would wait for its whole timeout; the bound leaves room for a
    // loaded runner, where starting the CLI alone has taken 3 s.
    expect(r.ms).toBeLessThan(10_000)
  }, 20_000)

  test('a refused key or a server error: nothing on stdout, exit 0, the reason on stderr', async () => {
    for (const [status, said] of [
      [401, 'the API key was refused (401)'],
      [500, 'answered 500: boom'],
    ] as const) {
      const fake = fakeHooks(() =>
        Response.json({ error: { code: 'X', message: status === 401 ? 'bad key' : 'boom' } }, { status }),
      )
      stops.push(fake.stop)
      const r = await runCli(['hook'], {
        env: { PARLEY_URL: fake.url, PARLEY_API_KEY: 'prl_bad' },
        stdin: JSON.stringify(stop),
      })
      expect(r).toMatchObject({ code: 0, stdout: '' })
      expect(r.stderr).toContain(said)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
  })

  test('no key: the agent goes on; a bad flag is a non-blocking error (1), never the blocking 2', async () => {
    const noKey = await runCli(['hook'], { env: { PARLEY_URL: 'http://127.0.0.1:9' }, stdin: '{}' })
    expect(noKey).toMatchObject({ code: 0, stdout: '' })
    expect(noKey.stderr).toContain('PARLEY_API_KEY is not set')
    const bad = await runCli(['hook', '--agent', 'gemini'], { env: { PARLEY_API_KEY: 'k' }, stdin: '{}' })
    expect(bad).toMatchObject({ code: 1, stdout: '' })
    expect(bad.stderr).toContain('--agent must be claude-code or codex')
  })
})
