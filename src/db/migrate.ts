// Applies the SQL that drizzle-kit generated into migrations/, in journal order, once each.
// On a Postgres server several machines may start at once: a session advisory lock held on one
// reserved connection makes them take turns, and the second finds nothing left to do.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectFile } from '../project-files.ts'
import type { Database, RawQuery } from './client.ts'

const MIGRATIONS_DIR = projectFile('migrations')
const LOCK_KEY = 7_210_424_001 // arbitrary, constant: "parley migrations"

type Journal = { entries: { idx: number; tag: string }[] }

export function pendingMigrations(dir = MIGRATIONS_DIR): { tag: string; statements: string[] }[] {
  const journal = JSON.parse(readFileSync(join(dir, 'meta', '_journal.json'), 'utf8')) as Journal
  return journal.entries
    .sort((a, b) => a.idx - b.idx)
    .map(({ tag }) => ({
      tag,
      statements: readFileSync(join(dir, `${tag}.sql`), 'utf8')
        .split('--> statement-breakpoint')
        .map((s) => s.trim())
        .filter(Boolean),
    }))
}

async function applyAll(query: RawQuery, dir?: string): Promise<string[]> {
  await query(
    'create table if not exists parley_migrations (tag text primary key, applied_at timestamptz not null default now())',
  )
  const done = new Set((await query<{ tag: string }>('select tag from parley_migrations')).map((r) => r.tag))
  const applied: string[] = []
  for (const m of pendingMigrations(dir)) {
    if (done.has(m.tag)) continue
    await query('begin')
    try {
      for (const statement of m.statements) await query(statement)
      await query('insert into parley_migrations (tag) values ($1)', [m.tag])
      await query('commit')
    } catch (err) {
      await query('rollback')
      throw new Error(`migration ${m.tag} failed: ${(err as Error).message}`, { cause: err })
    }
    applied.push(m.tag)
  }
  return applied
}

/** Brings the schema up to date; returns the tags it applied. */
export async function migrate(database: Database, dir?: string): Promise<string[]> {
  if (!database.sql) return applyAll(database.query, dir)
  const conn = await database.sql.reserve()
  try {
    await conn`select pg_advisory_lock(${LOCK_KEY})`
    const query: RawQuery = async (text, params = []) => (await conn.unsafe(text, params as never[])) as never
    return await applyAll(query, dir)
  } finally {
    await conn`select pg_advisory_unlock(${LOCK_KEY})`.catch(() => {})
    conn.release()
  }
}
