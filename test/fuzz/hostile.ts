// Hostile requests for every route the app serves, generated from the route table (`app.routes`)
// and each route's request schemas, the MCP tools' input schemas (from `tools/list`), the
// recorded hook payloads and the field names of the dashboard's forms; then mutated as an attacker
// would: wrong types, NUL, lone surrogates, overlong strings, deep nesting, duplicate keys,
// `__proto__`, huge numbers, bad UUIDs and path segments, wrong content types, truncated bodies.
// The property, for the test and the bench alike: never a 5xx, never a thrown request, and a
// rejected request changes no row count. Failures replay from the
// seed printed with them. Relay frames: test/fuzz/frames.ts.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { csrfTokenFor } from '../../src/auth/csrf.ts'
import { createWebSession, findWebSession, SESSION_COOKIE } from '../../src/auth/web-sessions.ts'
import type { Database } from '../../src/db/client.ts'

type Handler = { handle(r: Request): Promise<Response> }
type Query = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>
type JsonSchema = {
  type?: string | string[]
  anyOf?: JsonSchema[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  enum?: unknown[]
  const?: unknown
  maxLength?: number
  maxItems?: number
  minimum?: number
  maximum?: number
}

/** What the generator needs of a running app: its handler, a database and a user's credentials. */
export type FuzzTarget = {
  app: Handler & { routes: { method: string; path: string; hooks?: unknown }[] }
  query: Query
  key: string
  session: { cookie: string; csrf: string; token: string }
  /** Ids that exist (instances, messages), so some requests reach past the not-found checks. */
  ids: string[]
  /** A generated /logout or session revocation ends the session: this gives the next case a new one. */
  keepSession(): Promise<void>
}

/** A target for `user` on a started Parley: a dashboard session, and an instance with a question. */
export async function fuzzTarget(
  parley: { app: FuzzTarget['app']; database: Database },
  user: { id: string; key: string },
): Promise<FuzzTarget> {
  const db = parley.database.db
  const newSession = async () => {
    const s = await createWebSession(db, user.id)
    return { cookie: `${SESSION_COOKIE}=${s.token}`, csrf: csrfTokenFor(s.token), token: s.token }
  }
  const instance = crypto.randomUUID()
  const ids: string[] = [instance]
  for (const requires_user_input of [false, true]) {
    const res = await parley.app.handle(
      new Request('http://parley.test/api/v1/messages/agent', {
        method: 'POST',
        headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          agent_instance_id: instance,
          agent_type: 'claude code',
          content: 'a step',
          requires_user_input,
        }),
      }),
    )
    ids.push(((await res.json()) as { message_id: string }).message_id)
  }
  const target: FuzzTarget = {
    app: parley.app,
    query: parley.database.query,
    key: user.key,
    session: await newSession(),
    ids,
    keepSession: async () => {
      if (!(await findWebSession(db, target.session.token))) target.session = await newSession()
    },
  }
  return target
}

export type HostileRequest = {
  route: string
  method: string
  path: string
  headers: Record<string, string>
  body?: string
}

type RouteSpec = { method: string; path: string; body?: JsonSchema; query?: JsonSchema }

/** Every route of the app with the schemas it declares (Elysia keeps them on `hooks`). */
export function routeSpecs(app: FuzzTarget['app']): RouteSpec[] {
  return app.routes.map((r) => {
    const hooks = (r.hooks ?? {}) as { body?: JsonSchema; query?: JsonSchema }
    return { method: r.method, path: r.path, body: hooks.body, query: hooks.query }
  })
}

const root = join(import.meta.dir, '..', '..')

/** The recorded stdin JSON of every hook event, both agents. */
function hookPayloads(): Record<string, unknown>[] {
  const dir = join(root, 'test/fixtures/hooks')
  return readdirSync(dir).flatMap((agent) =>
    readdirSync(join(dir, agent)).map((f) => JSON.parse(readFileSync(join(dir, agent, f), 'utf8'))),
  )
}

/** The field names the dashboard's forms post, read from the views. */
function formFields(): string[] {
  const names = new Set<string>()
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name))
      else if (e.name.endsWith('.tsx'))
        for (const m of readFileSync(join(dir, e.name), 'utf8').matchAll(/name="([a-z_]+)"/g))
          names.add(m[1]!)
    }
  }
  walk(join(root, 'views'))
  return [...names]
}

/** One JSON-RPC message to /mcp with `key`; the reply, from JSON or from its one SSE event. */
export async function mcpRpc(
  app: Handler,
  key: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ result?: Record<string, unknown>; error?: unknown }> {
  const res = await app.handle(
    new Request('http://parley.test/mcp', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    }),
  )
  const text = await readSome(res, 5000)
  return JSON.parse(text.match(/^data: (.*)$/m)?.[1] ?? text)
}

/** The MCP tools and their input schemas, as the server lists them. */
export async function mcpTools(target: Pick<FuzzTarget, 'app' | 'key'>) {
  const reply = await mcpRpc(target.app, target.key, { jsonrpc: '2.0', id: 1, method: 'tools/list' })
  return reply.result!.tools as { name: string; inputSchema: JsonSchema }[]
}

// ---- values ----

const HUGE_NUMBERS = [1e308, -1e308, 2 ** 53 + 2, -(2 ** 63), 5e-324, -0, 4294967296]
const BAD_IDS = ['not-a-uuid', '00000000-0000-0000-0000-00000000000g', "1'; drop table messages; --", '', ' ']
/** Strings that ask too much of the code behind them. */
const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([a, b]) => `${a}\u0000${b}`),
  fc.constantFrom('\ud800', 'a\udc00b', '\udbff\udbff', 'x\ud83d'),
  fc.constantFrom(100_001, 200_001, 1_100_000).map((n) => 'x'.repeat(n)),
  fc.constantFrom(...BAD_IDS, '../../etc/passwd', '<script>alert(1)</script>', '%00', '\u202e\u2066'),
)

/** A chain of `depth` objects or arrays, each in the next. */
const nested = (depth: number, array: boolean): unknown => {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = array ? [v] : { a: v }
  return v
}

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  fc.constantFrom(...HUGE_NUMBERS),
  fc.constantFrom(true, false, null, 0, [], {}),
  fc.tuple(fc.integer({ min: 31, max: 3000 }), fc.boolean()).map(([d, a]) => nested(d, a)),
  fc.constant(JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}')),
  fc.jsonValue({ maxDepth: 2 }),
)

const idLike = (name: string) => name === 'id' || name.endsWith('_id')

/** Values that fit `s`, for a field called `name`. */
function fromSchema(s: JsonSchema | undefined, name: string, ids: string[]): fc.Arbitrary<unknown> {
  if (!s) return fc.jsonValue({ maxDepth: 2 })
  if (s.const !== undefined) return fc.constant(s.const)
  if (s.enum) return fc.constantFrom(...s.enum)
  if (s.anyOf) return fc.oneof(...s.anyOf.map((x) => fromSchema(x, name, ids)))
  const types = Array.isArray(s.type) ? s.type : [s.type]
  return fc.oneof(...types.map((type) => fromType(s, type, name, ids)))
}

function fromType(
  s: JsonSchema,
  type: string | undefined,
  name: string,
  ids: string[],
): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string':
      if (idLike(name)) return fc.oneof(fc.constantFrom(...ids), fc.uuid(), hostileString)
      return fc.oneof(
        { weight: 4, arbitrary: fc.string({ maxLength: Math.min(s.maxLength ?? 40, 40) }) },
        { weight: 1, arbitrary: hostileString },
      )
    case 'boolean':
      return fc.boolean()
    case 'integer':
      return fc.integer({ min: s.minimum ?? -1000, max: s.maximum ?? 1000 })
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true })
    case 'null':
      return fc.constant(null)
    case 'array':
      return fc.array(fromSchema(s.items, name, ids), { maxLength: Math.min(s.maxItems ?? 3, 3) })
    case 'object': {
      if (!s.properties)
        return fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })
      const fields = Object.fromEntries(
        Object.entries(s.properties).map(([k, v]) => [k, fromSchema(v, k, ids)] as const),
      )
      return fc.record(fields, { requiredKeys: s.required ?? [] })
    }
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

type Path = (string | number)[]

/** Where a value could go in `v`: every existing slot, and a new field at the top. */
function slots(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (at.length === 0 && v && typeof v === 'object' && !Array.isArray(v)) out.push(['extra'])
  if (at.length > 0) out.push(at)
  if (at.length < 4 && v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) slots(x, [...at, Array.isArray(v) ? Number(k) : k], out)
  return out
}

function setAt(v: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value
  const [head, ...rest] = path
  if (Array.isArray(v)) {
    const copy = [...v]
    copy[head as number] = setAt(copy[head as number], rest, value)
    return copy
  }
  const copy = { ...(v as Record<string, unknown>) }
  // defineProperty: a `__proto__` key stays a key, as JSON.parse made it.
  const next = setAt(copy[head as string], rest, value)
  Object.defineProperty(copy, head as string, {
    value: next,
    enumerable: true,
    writable: true,
    configurable: true,
  })
  return copy
}

/** `v` with one slot replaced by something hostile, or as generated. */
const mutateValue = (v: unknown): fc.Arbitrary<unknown> => {
  const where = slots(v)
  if (where.length === 0) return fc.oneof(fc.constant(v), hostileValue)
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(v) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.constantFrom(...where), hostileValue).map(([p, x]) => setAt(v, p, x)),
    },
    { weight: 1, arbitrary: hostileValue },
  )
}

/** JSON text, sometimes damaged where JSON.stringify would never damage it. */
const mutateText = (v: unknown): fc.Arbitrary<string> => {
  const text = JSON.stringify(v) ?? 'null'
  const firstKey = text.match(/^\{"([^"]*)":/)?.[1]
  const insert = (piece: string) =>
    text.startsWith('{') && text !== '{}' ? `{${piece},${text.slice(1)}` : text
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(text) },
    fc.nat(Math.max(0, text.length - 1)).map((n) => text.slice(0, n)),
    fc.constantFrom(
      // The same key twice: the last one wins in JSON.parse, the first may have been checked.
      insert(`"${firstKey ?? 'content'}":"\\u0000 first"`),
      insert('"__proto__":{"polluted":true}'),
      insert('"n":123456789012345678901234567890123,"m":1e400,"o":-1e400'),
      insert('"s":"\\ud800"'),
    ),
  )
}

/** A form body: field names from the views, values fair or hostile, raw percent-escapes included. */
function formBody(fields: string[], csrf: () => string): fc.Arbitrary<string> {
  const value = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 20 }) }, hostileString)
  const enc = (s: string) => {
    try {
      return encodeURIComponent(s)
    } catch {
      return s // a lone surrogate cannot be encoded: sent raw
    }
  }
  return fc
    .tuple(
      fc.array(fc.tuple(fc.oneof(fc.constantFrom(...fields), fc.string({ maxLength: 8 })), value), {
        maxLength: 5,
      }),
      fc.constantFrom('', '&content=%00', '&content=%ED%A0%80', '&q=%E0%A4%A', '&%=%%', '&option=1e999'),
      fc.boolean(),
    )
    .map(
      ([pairs, raw, withCsrf]) =>
        pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&') + raw + (withCsrf ? `&_csrf=${csrf()}` : ''),
    )
}

const rawQueryPieces = ['', '&wait=%00', '&agent_instance_id=%ED%A0%80', '&x=%E0%A4%A', '&%', '&before=1e999']

function queryString(spec: RouteSpec, ids: string[]): fc.Arbitrary<string> {
  const base = spec.query ? fromSchema(spec.query, 'query', ids) : fc.constant({})
  return fc.tuple(base.chain(mutateValue), fc.constantFrom(...rawQueryPieces)).map(([q, raw]) => {
    const params = new URLSearchParams()
    if (q && typeof q === 'object')
      for (const [k, v] of Object.entries(q))
        if (v !== undefined) params.append(k, typeof v === 'string' ? v : JSON.stringify(v))
    const s = params.toString() + raw
    return s ? `?${s.replace(/^&/, '')}` : ''
  })
}

const hostileSegments = [
  '%00',
  '%ED%A0%80',
  'x'.repeat(3000),
  '%2e%2e',
  '..%2f..%2fetc',
  'null',
  '-1',
  '%E0%A4%A',
]

function pathOf(spec: RouteSpec, ids: string[]): fc.Arbitrary<string> {
  const names = [...spec.path.matchAll(/:(\w+)/g)].map((m) => m[1]!)
  const segment = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...ids) },
    fc.uuid(),
    fc.constantFrom(...hostileSegments),
    fc.string({ maxLength: 12 }).map(encodeURIComponent),
  )
  return fc
    .tuple(...names.map(() => segment))
    .map((values) => names.reduce((p, n, i) => p.replace(`:${n}`, values[i]!), spec.path))
}

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/json; charset=utf-16',
  'application/xml',
]

/** Every route's hostile requests, each route as likely as any other. */
export function hostileRequests(
  target: FuzzTarget,
  tools: { name: string; inputSchema: JsonSchema }[],
): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    ...hostileRequestsByRoute(target, tools).map(({ weight, arbitrary }) => ({ weight, arbitrary })),
  )
}

/**
 * Each route's hostile requests. Routes that take agents' JSON (declared schemas, MCP, hooks)
 * weigh more: they have the most fields to get wrong.
 */
export function hostileRequestsByRoute(
  target: FuzzTarget,
  tools: { name: string; inputSchema: JsonSchema }[],
): { route: string; weight: number; arbitrary: fc.Arbitrary<HostileRequest> }[] {
  const hooks = hookPayloads()
  const fields = formFields()
  const { ids } = target
  const toolCall = fc.constantFrom(...tools).chain((tool) =>
    fc.record({
      jsonrpc: fc.constant('2.0'),
      id: fc.oneof(fc.nat(), fc.string({ maxLength: 8 })),
      method: fc.constant('tools/call'),
      params: fc.record({
        name: fc.constant(tool.name),
        arguments: fromSchema(tool.inputSchema, 'arguments', ids),
      }),
    }),
  )
  const rpc = fc.oneof(
    { weight: 4, arbitrary: toolCall },
    fc.constantFrom(
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
    ),
    fc.array(toolCall, { maxLength: 3 }),
  )
  const hookBody = fc
    .tuple(
      fc.constantFrom(...hooks),
      fc.oneof(fc.constantFrom(...ids), fc.uuid(), fc.string({ maxLength: 20 })),
    )
    .map(([payload, sessionId]) => ({ ...payload, session_id: sessionId }))

  const requestFor = (spec: RouteSpec): fc.Arbitrary<HostileRequest> => {
    const web = !/^\/(api|mcp|hooks|slack)/.test(spec.path)
    const jsonBody = spec.path.startsWith('/mcp')
      ? rpc
      : spec.path.startsWith('/hooks/')
        ? hookBody
        : fromSchema(spec.body, 'body', ids)
    const body: fc.Arbitrary<{ text: string; type: string } | undefined> = web
      ? formBody(fields, () => target.session.csrf).map((text) => ({
          text,
          type: 'application/x-www-form-urlencoded',
        }))
      : jsonBody
          .chain(mutateValue)
          .chain(mutateText)
          .map((text) => ({ text, type: 'application/json' }))
    return fc
      .record({
        method:
          spec.method === 'ALL' ? fc.constantFrom('POST', 'GET', 'DELETE', 'PUT') : fc.constant(spec.method),
        path: pathOf(spec, ids),
        query: queryString(spec, ids),
        body,
        contentType: fc.oneof(
          { weight: 9, arbitrary: fc.constant(null) },
          fc.constantFrom(...CONTENT_TYPES, ''),
        ),
        auth: fc.oneof(
          { weight: 8, arbitrary: fc.constant('valid') },
          fc.constantFrom('none', 'garbage', 'other-scheme'),
        ),
      })
      .map((r) => {
        const headers: Record<string, string> = {}
        if (web) {
          if (r.auth === 'valid') headers.cookie = target.session.cookie
          else if (r.auth === 'garbage') headers.cookie = 'parley_session=%00garbage'
        } else if (r.auth === 'valid') headers.authorization = `Bearer ${target.key}`
        else if (r.auth === 'garbage') headers.authorization = 'Bearer pk_\u00ff\u00fe'
        else if (r.auth === 'other-scheme') headers.authorization = `Basic ${btoa('a:b')}`
        if (spec.path.startsWith('/mcp')) headers.accept = 'application/json, text/event-stream'
        const hasBody = r.method !== 'GET' && r.method !== 'HEAD' && r.body !== undefined
        if (hasBody && r.contentType !== '') headers['content-type'] = r.contentType ?? r.body!.type
        return {
          route: `${spec.method} ${spec.path}`,
          method: r.method,
          path: r.path + r.query,
          headers,
          ...(hasBody ? { body: r.body!.text } : {}),
        }
      })
  }
  return routeSpecs(target.app).map((spec) => ({
    route: `${spec.method} ${spec.path}`,
    weight: spec.body || spec.query || /^\/(mcp|hooks)/.test(spec.path) ? 4 : 1,
    arbitrary: requestFor(spec),
  }))
}

// ---- the property ----

/** How long a request that waits (long-poll, held hook, SSE stream, blocking tool) is given. */
const HOLD_MS = 60

/**
 * Tables not compared: a live dashboard stream moves its viewer's read marker when an event
 * arrives (src/web/instance-live.ts), after the request that caused the event has answered, so
 * its writes land during whichever request comes next.
 */
const MOVED_IN_THE_BACKGROUND = ['instance_reads']

const countSql = new WeakMap<Query, Promise<string>>()

/** Row counts of every table: what a rejected request must leave as it was. */
export async function rowCounts(query: Query): Promise<Record<string, number>> {
  let sql = countSql.get(query)
  if (!sql) {
    sql = query<{ name: string }>(
      `select table_name as name from information_schema.tables
       where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
    ).then((tables) => {
      const counted = tables.filter((t) => !MOVED_IN_THE_BACKGROUND.includes(t.name))
      return `select ${counted.map((t) => `(select count(*)::int from "${t.name}") as "${t.name}"`).join(', ')}`
    })
    countSql.set(query, sql)
  }
  const [row] = await query<Record<string, number>>(await sql)
  return row!
}

/** The body; of an event stream (which does not end), as much as comes within `ms`. */
export async function readSome(res: Response, ms = HOLD_MS): Promise<string> {
  if (!res.body) return ''
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) return res.text()
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  const stop = Bun.sleep(ms).then(() => null)
  for (;;) {
    const chunk = await Promise.race([reader.read(), stop])
    if (!chunk || chunk.done) break
    text += decoder.decode(chunk.value, { stream: true })
  }
  await reader.cancel().catch(() => {})
  return text
}

/** `changed`: the tables whose row count changed. */
export type Outcome = { status: number; text: string; changed: string[] }

/** Sends one hostile request; the status, what came back and whether any row count changed. */
export async function send(target: FuzzTarget, r: HostileRequest): Promise<Outcome> {
  const before = await rowCounts(target.query)
  const res = await target.app.handle(
    new Request(`http://parley.test${r.path}`, {
      method: r.method,
      headers: r.headers,
      body: r.body,
      signal: AbortSignal.timeout(HOLD_MS),
    }),
  )
  const text = await readSome(res)
  const after = await rowCounts(target.query)
  await target.keepSession()
  const changed = Object.keys(after)
    .filter((k) => after[k] !== before[k])
    .map((k) => `${k} ${before[k]} -> ${after[k]}`)
  return { status: res.status, text, changed }
}

/** Why an outcome breaks the property, or null. */
export function violation(r: HostileRequest, o: Outcome): string | null {
  if (o.status >= 500) return `${r.route}: ${o.status} ${o.text.slice(0, 300)}`
  if (o.status >= 400 && o.changed.length > 0)
    return `${r.route}: rejected with ${o.status} but rows changed (${o.changed.join(', ')})`
  if (({} as Record<string, unknown>).polluted !== undefined) return `${r.route}: Object.prototype polluted`
  return null
}

/** A printable request, for the failure message (bodies cut short). */
export const describeRequest = (r: HostileRequest) =>
  JSON.stringify({ ...r, path: r.path.slice(0, 300), body: r.body?.slice(0, 300) })
