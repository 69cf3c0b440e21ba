// Raw SQL through drizzle returns rows in a driver-specific envelope (an array from postgres.js,
// `{ rows }` from PGlite). Read queries that need SQL drizzle's builder cannot express (lateral
// previews, row-value cursors) go through here so callers always get plain rows.
import type { SQL } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'

export async function queryRows<T>(db: DbOrTx, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as T[]
}

/** Escapes LIKE wildcards so a search for "50%" matches the text "50%" and nothing else. */
export const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/** Opaque keyset cursors: base64url JSON, rejected as a named bad input when tampered with. */
export const encodeCursor = (key: unknown[]) => Buffer.from(JSON.stringify(key)).toString('base64url')

export function decodeCursor(cursor: string): unknown[] | null {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    return Array.isArray(value) ? value : null
  } catch {
    return null
  }
}
