// Shared benchmark plumbing: a throwaway Postgres database, an in-process Parley with a user and
// an API key, a tiny JSON client over keep-alive fetch, percentiles, and the machine description.
import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import postgres from 'postgres'
import { createApiKey } from '../src/auth/api-keys.ts'
import { loadConfig } from '../src/config.ts'
import { createUser } from '../src/core/users.ts'
import type { Db } from '../src/db/client.ts'
import { type Parley, startParley } from '../src/parley.ts'

export const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

/** One line of a results table: a measured figure next to its target. */
export type Row = { what: string; value: string; target?: string; ok?: boolean }
export type Section = { title: string; notes: string[]; rows: Row[]; failures: string[] }

export type BenchDb = { url: string; name: string; drop(): Promise<void> }

export async function createBenchDatabase(): Promise<BenchDb> {
  const name = `parley_bench_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`create database ${name}`)
  } catch (err) {
    throw new Error(
      `cannot create a database on ${PG_ADMIN_URL} (${(err as Error).message}); is Postgres running? ` +
        'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    )
  } finally {
    await admin.end()
  }
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const a = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} })
      await a.unsafe(`drop database if exists ${name} with (force)`)
      await a.end()
    },
  }
}

const BENCH_PASSWORD = 'benchmark password'

/** A user with an API key, for agents to authenticate with. */
export async function makeAgentKey(db: Db): Promise<string> {
  return (await makeBenchUser(db)).key
}

/** A new user with an API key. */
export async function makeBenchUser(db: Db): Promise<{ id: string; email: string; key: string }> {
  const email = `bench-${crypto.randomUUID().slice(0, 8)}@example.com`
  const user = await createUser(db, { email, password: BENCH_PASSWORD, displayName: 'bench' })
  const { key } = await createApiKey(db, { userId: user.id, name: 'bench' })
  return { id: user.id, email, key }
}

/**
 * A person at the dashboard: a new user logged in through the real /login form, whose `press`
 * posts an option button of a question as the page's form does (session cookie and CSRF token).
 */
export async function dashboardUser(base: string, db: Db) {
  const { email, key } = await makeBenchUser(db)
  // As a browser does: open the form for its CSRF cookie and token, then post it.
  const form = await fetch(`${base}/login`)
  const formCookie = form.headers.get('set-cookie')?.split(';')[0] ?? ''
  const formToken = (await form.text()).match(/name="_csrf" value="([^"]+)"/)?.[1] ?? ''
  const login = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie },
    body: new URLSearchParams({ email, password: BENCH_PASSWORD, _csrf: formToken }).toString(),
    redirect: 'manual',
  })
  const cookie = login.headers
    .get('set-cookie')
    ?.split(', ')
    .find((c) => c.startsWith('parley_session='))
    ?.split(';')[0]
  if (login.status !== 303 || !cookie) throw new Error(`bench log-in failed: HTTP ${login.status}`)
  const page = await (await fetch(`${base}/`, { headers: { cookie } })).text()
  const csrf = page.match(/<meta name="csrf-token" content="([^"]+)"/)?.[1]
  if (!csrf) throw new Error('no CSRF token on the dashboard after log-in')
  return {
    key,
    /** Presses option `option` of question `questionId` on the instance page. */
    press: async (instanceId: string, questionId: string, option: number) => {
      const res = await fetch(`${base}/instances/${instanceId}/reply`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true' },
        body: new URLSearchParams({
          _csrf: csrf,
          question_id: questionId,
          option: String(option),
        }).toString(),
        redirect: 'manual',
      })
      await res.arrayBuffer()
      if (res.status >= 400) throw new Error(`option press: HTTP ${res.status}`)
    },
  }
}

export type Running = { parley: Parley; base: string; key: string }

export async function startInProcess(databaseUrl: string): Promise<Running> {
  const parley = await startParley(loadConfig({ DATABASE_URL: databaseUrl, PORT: '0' }), { quiet: true })
  const key = await makeAgentKey(parley.database.db)
  return { parley, base: `http://127.0.0.1:${parley.port}`, key }
}

/** JSON over HTTP as an agent; Bun's fetch keeps connections alive between calls. */
export function agentClient(base: string, key: string) {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  const send = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`)
    return JSON.parse(text)
  }
  return {
    post: (path: string, body: unknown) => send('POST', path, body),
    get: (path: string) => send('GET', path),
    /** Posts a question as an agent and returns its message id. */
    ask: async (instanceId: string, content: string): Promise<string> =>
      (
        await send('POST', '/api/v1/messages/agent', {
          agent_instance_id: instanceId,
          agent_type: 'bench',
          content,
          requires_user_input: true,
        })
      ).message_id,
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

/** A process's resident memory, from /proc/<pid>/status. */
export const rssKiB = (pid: number): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN)

export const ms = (v: number) => `${v.toFixed(2)} ms`

/** A throughput next to its physical ceiling (bench/ceilings.ts) when one was measured in the run. */
export const throughput = (perSecond: number, ceiling?: { httpPerSecond: number }, unit = 'req/s') =>
  ceiling
    ? `${perSecond.toFixed(0)} ${unit} (${((perSecond / ceiling.httpPerSecond) * 100).toFixed(1)} % of bare HTTP, ${ceiling.httpPerSecond.toFixed(0)} req/s)`
    : `${perSecond.toFixed(0)} ${unit}`

/** Runs `step` in `loops` concurrent loops for `seconds`; returns completed steps per second. */
export async function rate(loops: number, seconds: number, step: (loop: number) => Promise<unknown>) {
  let done = 0
  let stop = false
  const start = performance.now()
  const workers = Array.from({ length: loops }, async (_, i) => {
    while (!stop) {
      await step(i)
      done++
    }
  })
  await Bun.sleep(seconds * 1000)
  stop = true
  const elapsed = (performance.now() - start) / 1000
  const counted = done
  await Promise.all(workers)
  return counted / elapsed
}
export const sleep = (millis: number) => Bun.sleep(millis)

export function machine() {
  const info = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown'
  return {
    cpu: model,
    cores: cpus().length,
    ramGiB: (totalmem() / 2 ** 30).toFixed(1),
    bun: Bun.version,
  }
}
