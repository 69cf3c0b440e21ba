// The compiled executable (`bun run build`) is what the Docker image runs: built once, copied to a
// folder of its own and started there with PORT and DATABASE_URL only, it migrates, serves the
// agent API and the dashboard with every browser asset, runs the CLI commands, and restarts on
// the database it migrated. The one build takes 10 to 40 s (two compiles around a first start and
// a restart it records, see scripts/build.ts); PGlite adds about 10 s (initdb, then a restart),
// Postgres about 3 s.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { connectPostgres, FS_BUNDLE_COPY } from '../../src/db/client.ts'
import { pendingMigrations } from '../../src/db/migrate.ts'
import { ASSET_FILES } from '../../src/web/assets.ts'
import { dbKinds, uuid } from '../helpers.ts'
import { type BinaryServer, buildBinary, runBinary, startBinary } from './run-binary.ts'

/** An empty Postgres database, so the executable has every migration to apply. */
async function emptyPostgres(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL!
  const name = `parley_bin_${uuid().replace(/-/g, '').slice(0, 12)}`
  const admin = connectPostgres(base, { max: 1 })
  await admin.query(`create database ${name}`)
  await admin.close()
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const a = connectPostgres(base, { max: 1 })
      await a.query(`drop database if exists ${name} with (force)`)
      await a.close()
    },
  }
}

/** Each mapping of a process (path empty when anonymous), with its resident KiB (/proc/<pid>/smaps). */
function residentKiB(pid: number): { path: string; rssKiB: number }[] {
  const maps: { path: string; rssKiB: number }[] = []
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (mapping) maps.push({ path: mapping[1]!, rssKiB: 0 })
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss && maps.length > 0) maps.at(-1)!.rssKiB += Number(rss[1])
  }
  return maps
}

/** The scripts and stylesheets a page names. */
const pageAssets = (html: string) => [
  ...[...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]!),
  ...[...html.matchAll(/<link[^>]*\shref="([^"]+)"[^>]*>/g)]
    .filter((m) => /rel="stylesheet"/.test(m[0]))
    .map((m) => m[1]!),
]

describe('the compiled executable', () => {
  let bin: Awaited<ReturnType<typeof buildBinary>>
  beforeAll(async () => {
    bin = await buildBinary()
  }, 300_000)
  afterAll(() => rmSync(bin.dir, { recursive: true, force: true }))

  for (const kind of dbKinds()) {
    test(`${kind}: migrates, answers, serves every asset, runs the CLI and restarts`, async () => {
      const pg = kind === 'postgres' ? await emptyPostgres() : null
      const env: Record<string, string> = { PORT: '0', ...(pg ? { DATABASE_URL: pg.url } : {}) }
      let server: BinaryServer | null = null
      try {
        server = await startBinary(bin.path, env)
        const tags = pendingMigrations().map((m) => m.tag)
        expect(server.output).toContain(`migrations applied: ${tags.join(', ')}`)
        expect((await fetch(`${server.base}/healthz`)).status).toBe(200)
        expect((await fetch(`${server.base}/readyz`)).status).toBe(200)

        // The CLI is the same executable (on PGlite it reaches the running server's database).
        const email = `bin-${uuid().slice(0, 8)}@example.com`
        const made = await runBinary(
          bin.path,
          ['users', 'create', '--email', email, '--password', 'a long password'],
          env,
        )
        expect(made.stderr).toBe('')
        expect(made.code).toBe(0)
        const keyRun = await runBinary(bin.path, ['keys', 'create', '--email', email, '--name', 'bin'], env)
        expect(keyRun.code).toBe(0)
        const key = keyRun.stdout.trim()
        const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }

        // An agent asks over REST and long-polls; the answer given meanwhile wakes it.
        const instance = uuid()
        const asked = await fetch(`${server.base}/api/v1/messages/agent`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            agent_instance_id: instance,
            agent_type: 'script',
            content: 'Ship?',
            requires_user_input: true,
          }),
        })
        expect(asked.status).toBe(200)
        const questionId = ((await asked.json()) as { message_id: string }).message_id
        const waiting = fetch(
          `${server.base}/api/v1/messages/pending?agent_instance_id=${instance}&last_read_message_id=${questionId}&wait=30`,
          { headers },
        )
        const answered = await fetch(`${server.base}/api/v1/messages/user`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ agent_instance_id: instance, content: 'Yes, ship it', mark_as_read: false }),
        })
        expect(answered.status).toBe(200)
        const got = (await (await waiting).json()) as { messages: { content: string }[] }
        expect(got.messages.map((m) => m.content)).toEqual(['Yes, ship it'])

        // The login page and every script and stylesheet it names; every asset of the table, byte
        // for byte the file it is served from when run from sources.
        const login = await fetch(`${server.base}/login`)
        expect(login.status).toBe(200)
        const named = pageAssets(await login.text())
        expect(named).toContain('/assets/htmx.js')
        expect(named).toContain('/assets/parley.css')
        for (const src of named) expect([src, (await fetch(server.base + src)).status]).toEqual([src, 200])
        for (const [name, file] of Object.entries(ASSET_FILES)) {
          const res = await fetch(`${server.base}/assets/${name}`)
          expect([name, res.status, res.headers.get('content-type')]).toEqual([name, 200, file.type])
          expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(file.path))).toBe(true)
        }

        expect(await server.stop()).toBe(0)
        server = null

        // Restart on the migrated database: nothing left to apply, the key from before still works.
        server = await startBinary(bin.path, env)
        expect(server.output).not.toContain('migrations applied')
        expect((await fetch(`${server.base}/healthz`)).status).toBe(200)
        if (kind === 'pglite') {
          // PGlite's fs bundle is mapped from its copy in the data folder: once started, few of its
          // pages are resident (held in the heap, all 6 MiB were).
          await server.waitFor('Dashboard:')
          const bundle = residentKiB(server.proc.pid).find((m) => m.path.includes(FS_BUNDLE_COPY))
          expect(bundle?.path.startsWith(`${bin.dir}/data/`)).toBe(true)
          expect(bundle!.rssKiB).toBeLessThan(1024)
        }
        expect((await fetch(`${server.base}/api/v1/auth/verify`, { headers })).status).toBe(200)
        const migrated = await runBinary(bin.path, ['migrate'], env)
        expect([migrated.code, migrated.stdout.trim()]).toEqual([0, 'database is up to date'])
        // The image's HEALTHCHECK: 0 while this server answers, 1 once it is gone.
        const port = { PORT: new URL(server.base).port }
        expect((await runBinary(bin.path, ['healthcheck'], port)).code).toBe(0)
        expect(await server.stop()).toBe(0)
        server = null
        expect((await runBinary(bin.path, ['healthcheck'], port)).code).toBe(1)
        if (kind === 'pglite') {
          // A copy cut short is written again, not a start that fails for good.
          const copy = readdirSync(`${bin.dir}/data`).find((f) => f.startsWith(FS_BUNDLE_COPY))!
          truncateSync(`${bin.dir}/data/${copy}`, 3_000_000)
          // A partial copy whose writer was killed is removed; one a running process writes is not.
          const killed = `${bin.dir}/data/${copy}.${Bun.spawnSync(['true']).pid}`
          const writing = `${bin.dir}/data/${copy}.${process.pid}`
          writeFileSync(killed, 'torn')
          writeFileSync(writing, 'being written')
          server = await startBinary(bin.path, env)
          expect((await fetch(`${server.base}/api/v1/auth/verify`, { headers })).status).toBe(200)
          expect(statSync(`${bin.dir}/data/${copy}`).size).toBeGreaterThan(3_000_000)
          expect([existsSync(killed), existsSync(writing)]).toEqual([false, true])
        }
      } finally {
        await server?.stop()
        await pg?.drop()
        rmSync(`${bin.dir}/data`, { recursive: true, force: true })
      }
    }, 60_000)
  }
})
