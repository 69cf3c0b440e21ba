// Shapes and formats the Omnara wire depends on: the five-key message object and naive-UTC
// timestamps with microseconds and no zone designator.

export type WireMessage = {
  id: string
  content: string
  sender_type: 'AGENT' | 'USER'
  created_at: string
  requires_user_input: boolean
}

/** "2025-10-01 17:03:11.4829+00" (Postgres text) -> "2025-10-01T17:03:11.482900". */
export function omnaraTime(pgText: string): string {
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?/.exec(pgText)
  if (!m) return pgText
  const fraction = m[3] ? `.${m[3].padEnd(6, '0').slice(0, 6)}` : ''
  return `${m[1]}T${m[2]}${fraction}`
}

/** JS Date -> the same naive UTC format (millisecond precision). */
export const omnaraTimeFromDate = (d: Date): string => omnaraTime(d.toISOString())

export type MessageRow = {
  id: string
  content: string
  sender: 'AGENT' | 'USER'
  createdAt: string
  requiresUserInput: boolean
}

/** Exactly five keys, in Omnara's order: its SDK builds `Message(**item)` and breaks on extras. */
export const toWireMessage = (m: MessageRow): WireMessage => ({
  id: m.id,
  content: m.content,
  sender_type: m.sender,
  created_at: omnaraTime(m.createdAt),
  requires_user_input: m.requiresUserInput,
})

export const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

/** Accepts what Postgres accepts (no hyphens, upper case, braces) and returns the canonical form. */
export function canonicalUuid(value: string): string | null {
  const v = value.trim().replace(/^\{(.*)\}$/, '$1')
  if (!UUID_RE.test(v)) return null
  const hex = v.replace(/-/g, '').toLowerCase()
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
