// Statements whose SQL text is built once. The one-statement writes (an agent message, a typed
// answer) are large drizzle `sql` templates that differ only by a few switches (a cursor kept or
// moved, a key given or not): building their text on every call was most of what the process
// spent on a message besides the socket writes. Here each statement is built once per shape, with
// drizzle placeholders where its values go, and a call only puts its values in their places.
// It still runs through `db.execute`, so it is prepared like every other statement (postgres.js
// keeps prepared statements per connection, keyed by text; see drizzleClient in client.ts),
// counted by Database.queryCount, and the same on PGlite and Postgres.
import { is, Placeholder, type Query, type QueryWithTypings, SQL, sql } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import { type Db, resultRows } from './client.ts'

/** What selects a statement's SQL text: named switches, nothing else (values are bound). */
export type Shape = Record<string, boolean>

/** Where each value goes in the statement: `v.name` stands for the value bound as `name`. */
export type Bound<V> = { readonly [K in keyof V]: SQL }

/** Both drivers use drizzle's Postgres dialect with its defaults, so one compiles for both. */
const dialect = new PgDialect()

const standIns = <V>(): Bound<V> =>
  new Proxy({} as Bound<V>, { get: (_, name) => sql`${sql.placeholder(String(name))}` })

/** A statement's text, its constant parameters, and the value each placeholder takes. */
type Compiled = { sql: string; params: unknown[]; names: (string | null)[] }

function compile(statement: SQL): Compiled {
  const query = dialect.sqlToQuery(statement)
  const names = query.params.map((p) => (is(p, Placeholder) ? p.name : null))
  return { sql: query.sql, params: query.params, names }
}

/** A query already built: drizzle runs it as it is. */
class Built extends SQL {
  constructor(private readonly query: Query) {
    super([])
  }
  override toQuery(): QueryWithTypings {
    return this.query
  }
}

/** The cache key of a shape: its switches, named, in the order the caller wrote them. */
function shapeKey(shape: Shape): string {
  let key = ''
  for (const name in shape) key += `${name}=${shape[name] ? 1 : 0};`
  return key
}

/**
 * A statement built by `build` once per shape. `build` may use the shape's switches, the
 * stand-ins for values it is handed, and constants; any other value it read would be frozen into
 * the text on first use, so it is defined where it can see no request's values.
 * Returns the rows of a call with `values` (every value the shape's text names).
 */
export function cachedStatement<S extends Shape, V extends Record<string, unknown>>(
  build: (shape: S, v: Bound<V>) => SQL,
) {
  const texts = new Map<string, Compiled>()
  return async function run<Row>(db: Db, shape: S, values: V): Promise<Row[]> {
    const key = shapeKey(shape)
    let text = texts.get(key)
    if (!text) {
      text = compile(build(shape, standIns<V>()))
      texts.set(key, text)
    }
    const params = text.params.slice()
    for (let i = 0; i < params.length; i++) {
      const name = text.names[i]
      if (name === null || name === undefined) continue
      if (!(name in values)) throw new Error(`No value for "${name}" in the statement`)
      params[i] = values[name]
    }
    return resultRows<Row>(await db.execute(new Built({ sql: text.sql, params })))
  }
}
