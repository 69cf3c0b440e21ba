// Untrusted text and JSON the database can store, checked once for every input: Postgres refuses a
// NUL character in text and jsonb, and half of a UTF-16 surrogate pair cannot be encoded as UTF-8,
// and jsonb nested a few thousand levels deep exhausts its stack. Each would fail the INSERT (a 500)
// after the request was accepted; refused here, they are a 422 naming the field, before anything
// is written. The HTTP edge runs every body, query and path through it (src/http/errors.ts); core
// functions that take text from chat bots and hooks call it too.
import { InvalidInput } from '../errors.ts'

/** How deep a JSON document (a whole request body, a hook's stdin) may nest: objects and arrays. */
export const MAX_JSON_DEPTH = 32

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why `text` cannot be stored, or null when it can. */
export function unstorableText(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain NUL characters'
  if (LONE_SURROGATE.test(text)) return 'must be valid Unicode (a lone surrogate was sent)'
  return null
}

/** Refuses `text` that cannot be stored, naming `field`. */
function checkStorableText(text: string, field: string): string {
  const why = unstorableText(text)
  if (why) throw new InvalidInput(field, `${field}: ${why}`)
  return text
}

/**
 * Refuses any string (object keys included) that cannot be stored anywhere in `value`, naming its
 * path (`message_metadata.a.0`), and a document nested deeper than MAX_JSON_DEPTH, naming the
 * top-level field it is in. `field` is where `value` sits; '' for a whole body.
 */
export function checkStorable(value: unknown, field = ''): void {
  walk(value, field, field, 0)
}

function walk(value: unknown, path: string, top: string, depth: number): void {
  if (typeof value === 'string') {
    checkStorableText(value, path || 'body')
    return
  }
  if (!value || typeof value !== 'object') return
  if (depth >= MAX_JSON_DEPTH) {
    const field = top || 'body'
    throw new InvalidInput(field, `${field}: is nested deeper than ${MAX_JSON_DEPTH} levels`)
  }
  const entries = Array.isArray(value) ? value.entries() : Object.entries(value)
  for (const [key, v] of entries) {
    const at = path ? `${path}.${key}` : String(key)
    if (typeof key === 'string') checkStorableText(key, at)
    walk(v, at, top || at, depth + 1)
  }
}
