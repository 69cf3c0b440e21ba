// The `parley` CLI as people run it: a separate process, on PGlite (with and without a running
// server holding the data dir) and on Postgres.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { root, runCli } from './cli/run-cli.ts'
import { freshDatabase, hasPostgres, type TestDb } from './helpers.ts'

const cli = (args: string[], env: Record<string, string>) => runCli(args, { env })

async function adminFlow(env: Record<string, string>) {
  const email = `cli-${crypto.randomUUID().slice(0, 8)}@example.com`
  const created = await cli(['users', 'create', '--email', email, '--password', 'long enough pw'], env)
  expect(created.code).toBe(0)
  const key = await cli(['keys', 'create', '--email', email, '--name', 'laptop'], env)
  expect(key.code).toBe(0)
  expect(key.stdout).toMatch(/^prl_[A-Za-z0-9_-]{43}\n$/) // only the key
  const list = await cli(['keys', 'list', '--email', email], env)
  expect(list.stdout).toContain('laptop')
  expect(list.stdout).toContain('active')
  expect(list.stdout).not.toContain(key.stdout.trim())
  const id = list.stdout.split('\t')[0]!
  const revoked = await cli(['keys', 'revoke', '--id', id], env)
  expect(revoked.code).toBe(0)
  expect((await cli(['keys', 'list', '--email', email], env)).stdout).toContain('revoked')
  const code = await cli(['links', 'code', '--email', email, '--channel', 'telegram'], env)
  expect(code.stdout).toMatch(/^[A-Z2-9]{10}\n$/)
  return { email, key: key.stdout.trim() }
}

describe('parley CLI', () => {
  const dirs: string[] = []
  const dbs: TestDb[] = []
  afterAll(async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
    for (const db of dbs) await db.drop()
  })

  test('usage errors exit 2 and say what is wrong', async () => {
    const r = await cli(['keys', 'create', '--email', 'x@example.com'], {
      PARLEY_DATA_DIR: '/nonexistent/never',
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--name is required')
    const unknown = await cli(['frobnicate'], {})
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown command: frobnicate')
  })

  test('a bad environment variable stops with one line naming it', async () => {
    const r = await cli(['migrate'], { DATABASE_URL: 'mysql://nope' })
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe('parley: DATABASE_URL: must start with postgres:// or postgresql://')
  })

  test('on PGlite: a first start says how to create a user; admin commands work with and without the server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'))
    dirs.push(dir)
    const env = { PARLEY_DATA_DIR: dir }
    const server = Bun.spawn(['bun', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH!, PARLEY_DATA_DIR: dir, PORT: '0' },
      stdout: 'pipe',
      stderr: 'inherit',
    })
    let email: string
    try {
      const reader = server.stdout.getReader()
      let out = ''
      while (!out.includes('No users yet')) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`server exited: ${out}`)
        out += new TextDecoder().decode(value)
      }
      expect(out).toContain('bun src/cli.ts users create --email')
      const url = /listening on (\S+)/.exec(out)![1]!
      // The server holds the data dir: the CLI goes through its socket.
      ;({ email } = await adminFlow(env))
      const key = (
        await cli(['keys', 'create', '--email', email, '--name', 'while-running'], env)
      ).stdout.trim()
      const verify = await fetch(`${url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${key}` } })
      expect(verify.status).toBe(200)
      expect((await verify.json()).email).toBe(email)
    } finally {
      server.kill('SIGTERM')
      expect(await server.exited).toBe(0)
    }
    // Server stopped: the CLI opens the data dir itself and sees the same data.
    await adminFlow(env)
    const list = await cli(['keys', 'list', '--email', email], env)
    expect(list.stdout).toContain('while-running')
  }, 90_000)

  test.skipIf(!hasPostgres())(
    'admin commands on Postgres',
    async () => {
      const db = await freshDatabase('postgres')
      dbs.push(db)
      await adminFlow({ DATABASE_URL: db.url! })
    },
    60_000,
  )
})
