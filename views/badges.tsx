// Small pieces the inbox and the instance page share: status badges, presence, relative times.
// Each says what it shows in words, not only by colour.
import type { InstanceStatus } from '../src/db/schema.ts'

const STATUS_LABEL: Record<InstanceStatus, string> = {
  ACTIVE: 'Active',
  AWAITING_INPUT: 'Needs input',
  COMPLETED: 'Completed',
  FAILED: 'Failed',
  KILLED: 'Killed',
  DISCONNECTED: 'Disconnected',
  DELETED: 'Deleted',
}

export const statusLabel = (s: InstanceStatus) => STATUS_LABEL[s] ?? s

export function StatusBadge({ status }: { status: InstanceStatus }) {
  return (
    <span class={`badge status status-${status.toLowerCase()}`} safe>
      {statusLabel(status)}
    </span>
  )
}

export function Presence({ present, compact = false }: { present: boolean; compact?: boolean }) {
  const title = present
    ? 'Online: heard from in the last minute'
    : 'Offline: not heard from in the last minute'
  if (compact) {
    return (
      <span class={present ? 'presence dot on' : 'presence dot'} title={title}>
        <span class="sr-only">{present ? 'online' : 'offline'}</span>
      </span>
    )
  }
  return (
    <span class={present ? 'presence on' : 'presence'} title={title}>
      {present ? 'online' : 'offline'}
    </span>
  )
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", then the date. */
export function timeAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 45) return 'just now'
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`
  if (s < 30 * 86_400) return `${Math.round(s / 86_400)} d ago`
  return new Date(ms).toISOString().slice(0, 10)
}

export function TimeAgo({ ms }: { ms: number }) {
  const iso = new Date(ms).toISOString()
  return (
    <time datetime={iso} title={iso} safe>
      {timeAgo(ms)}
    </time>
  )
}
