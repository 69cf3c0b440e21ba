// `parley hook install`: the configuration it prints, and merging it into the agent's settings
// file without losing what is there, idempotently.
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from './run-cli.ts'

const URL_ = 'https://parley.example.com'

describe('parley hook install', () => {
  const dirs: string[] = []
  const scratch = () => {
    const d = mkdtempSync(join(tmpdir(), 'parley-install-'))
    dirs.push(d)
    return d
  }
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  test('Claude Code: HTTP hooks with the key from the environment, SessionStart as a command', async () => {
    const r = await runCli(['hook', 'install'], { env: { PARLEY_URL: URL_ }, cwd: scratch() })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('.claude/settings.json')
    const { hooks } = JSON.parse(r.stdout)
    expect(Object.keys(hooks).sort()).toEqual(
      [
        'Notification',
        'PermissionRequest',
        'PreToolUse',
        'SessionEnd',
        'SessionStart',
        'Stop',
        'UserPromptSubmit',
      ].sort(),
    )
    const http = (timeout: number) => ({
      type: 'http',
      url: `${URL_}/hooks/claude-code?timeout=${timeout}`,
      headers: { Authorization: 'Bearer $PARLEY_API_KEY' },
      allowedEnvVars: ['PARLEY_API_KEY'],
      timeout,
    })
    expect(hooks.PermissionRequest).toEqual([{ matcher: '*', hooks: [http(3600)] }])
    expect(hooks.PreToolUse).toEqual([{ matcher: 'AskUserQuestion', hooks: [http(3600)] }])
    for (const event of ['UserPromptSubmit', 'Notification', 'Stop', 'SessionEnd'])
      expect(hooks[event]).toEqual([{ hooks: [http(15)] }])
    expect(hooks.SessionStart).toEqual([
      { hooks: [{ type: 'command', command: `parley hook --url ${URL_} --timeout 15`, timeout: 15 }] },
    ])
    expect(r.stdout).not.toContain('prl_') // the key is never written into the file
  })

  test('--timeout sets how long a question may wait, on the hook and in its URL', async () => {
    const r = await runCli(['hook', 'install', '--timeout', '900'], {
      env: { PARLEY_URL: URL_ },
      cwd: scratch(),
    })
    const hook = JSON.parse(r.stdout).hooks.PermissionRequest[0].hooks[0]
    expect(hook).toMatchObject({ timeout: 900, url: `${URL_}/hooks/claude-code?timeout=900` })
  })

  test('Codex: command hooks for its events, the permission one with the long timeout', async () => {
    const r = await runCli(['hook', 'install', '--agent', 'codex'], {
      env: { PARLEY_URL: URL_ },
      cwd: scratch(),
    })
    expect(r.code).toBe(0)
    const { hooks } = JSON.parse(r.stdout)
    expect(Object.keys(hooks).sort()).toEqual(
      ['PermissionRequest', 'SessionEnd', 'SessionStart', 'Stop', 'UserPromptSubmit'].sort(),
    )
    expect(hooks.PermissionRequest).toEqual([
      {
        hooks: [
          {
            type: 'command',
            command: `parley hook --agent codex --url ${URL_} --timeout 3600`,
            timeout: 3600,
          },
        ],
      },
    ])
  })

  test('--write merges into .claude/settings.json, keeps what is there, and a second run adds nothing', async () => {
    const dir = scratch()
    mkdirSync(join(dir, '.claude'))
    const mine = { type: 'command', command: 'npm run lint' }
    const before = {
      permissions: { allow: ['Bash(npm test)'] },
      hooks: {
        Stop: [{ hooks: [mine] }],
        PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: './guard.sh' }] }],
      },
    }
    const file = join(dir, '.claude', 'settings.json')
    writeFileSync(file, JSON.stringify(before))
    const first = await runCli(['hook', 'install', '--write'], { env: { PARLEY_URL: URL_ }, cwd: dir })
    expect(first.code).toBe(0)
    expect(first.stdout).toContain('wrote')
    expect(first.stderr).toContain('export it first') // the key lives in the environment, not the file
    const after = JSON.parse(readFileSync(file, 'utf8'))
    expect(after.permissions).toEqual(before.permissions)
    expect(after.hooks.Stop[0]).toEqual({ hooks: [mine] })
    expect(after.hooks.Stop).toHaveLength(2)
    expect(after.hooks.PreToolUse[0].matcher).toBe('Bash')
    expect(after.hooks.PreToolUse[1].matcher).toBe('AskUserQuestion')
    const text = readFileSync(file, 'utf8')

    const second = await runCli(['hook', 'install', '--write'], { env: { PARLEY_URL: URL_ }, cwd: dir })
    expect(second.code).toBe(0)
    expect(second.stdout).toContain('already has')
    expect(readFileSync(file, 'utf8')).toBe(text)

    // A new server URL replaces Parley's hooks instead of adding a second set.
    const moved = await runCli(['hook', 'install', '--write'], {
      env: { PARLEY_URL: 'http://127.0.0.1:8787' },
      cwd: dir,
    })
    expect(moved.code).toBe(0)
    const again = JSON.parse(readFileSync(file, 'utf8'))
    expect(again.hooks.Stop).toHaveLength(2)
    expect(again.hooks.SessionStart).toHaveLength(1)
    expect(JSON.stringify(again)).not.toContain(URL_)
  })

  test('--user writes ~/.claude/settings.json; Codex writes $CODEX_HOME/hooks.json or .codex/hooks.json', async () => {
    const home = scratch()
    const r = await runCli(['hook', 'install', '--user', '--write'], {
      env: { HOME: home, PARLEY_URL: URL_ },
    })
    expect(r.code).toBe(0)
    expect(JSON.parse(readFileSync(join(home, '.claude', 'settings.json'), 'utf8')).hooks.Stop).toHaveLength(
      1,
    )

    const codexHome = join(home, 'codex-home')
    const c = await runCli(['hook', 'install', '--agent', 'codex', '--user', '--write'], {
      env: { HOME: home, CODEX_HOME: codexHome, PARLEY_URL: URL_ },
    })
    expect(c.code).toBe(0)
    expect(c.stderr).toContain('/hooks')
    const codex = JSON.parse(readFileSync(join(codexHome, 'hooks.json'), 'utf8'))
    expect(Object.keys(codex)).toEqual(['hooks']) // Codex refuses unknown top-level keys
    expect(codex.hooks.PermissionRequest).toHaveLength(1)

    const project = scratch()
    const p = await runCli(['hook', 'install', '--agent', 'codex', '--write'], {
      env: { PARLEY_URL: URL_ },
      cwd: project,
    })
    expect(p.code).toBe(0)
    expect(existsSync(join(project, '.codex', 'hooks.json'))).toBe(true)
  })

  test('a settings file that is not JSON is left alone, with a message saying so', async () => {
    const dir = scratch()
    mkdirSync(join(dir, '.claude'))
    const file = join(dir, '.claude', 'settings.json')
    writeFileSync(file, '{ "hooks": { oops')
    const r = await runCli(['hook', 'install', '--write'], { env: { PARLEY_URL: URL_ }, cwd: dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('is not valid JSON')
    expect(readFileSync(file, 'utf8')).toBe('{ "hooks": { oops')
  })
})
