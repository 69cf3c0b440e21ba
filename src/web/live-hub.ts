// Live dashboard updates over Server-Sent Events. The process holds ONE event-bus subscription;
// open dashboards are grouped by what they show (a person's inbox with given filters, or one
// instance page), each group renders an update once, and the hub writes it to every stream in
// the group. So 500 open tabs cost one render and 500 writes, and nothing polls the database.
//
// Bun.serve closes a request that sends nothing for its idleTimeout, so each stream is exempted
// with server.timeout(request, 0) when a server is at hand, and sends a comment line every
// KEEPALIVE_MS anyway (proxies have idle limits too).
import type { Core } from '../core/context.ts'
import { viewersOf } from '../core/instance-admin.ts'
import type { BusEvent } from '../events/bus.ts'
import { log } from '../log.ts'

export const KEEPALIVE_MS = 20_000
/** How long a group waits for related events before rendering. */
const COALESCE_MS = 3

/** One piece of HTML to send; `messageId` marks a thread message, sent to each stream at most once. */
export type LiveItem = { html: string; messageId?: string }

export type GroupSpec = {
  /** Streams with the same key share renders: include the viewer and everything the view depends on. */
  key: string
  viewerId: string
  /** Instance events this view cares about (visibility is checked by the hub). */
  wants(event: BusEvent): boolean
  render(events: BusEvent[]): Promise<LiveItem[]>
}

type Stream = {
  write(text: string): void
  writeBytes(bytes: Uint8Array): void
  lastMessageId: string | null
}

type Group = { spec: GroupSpec; streams: Set<Stream>; queued: BusEvent[]; running: boolean }

const encoder = new TextEncoder()

/** One SSE message carrying HTML; every line gets its own `data:` field, as the format requires. */
export function sseFrame(html: string, id?: string | null): string {
  const data = html
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n')
  return `${id ? `id: ${id}\n` : ''}${data}\n\n`
}

type TimeoutServer = { timeout(request: Request, seconds: number): void } | null | undefined

export class LiveHub {
  private readonly groups = new Map<string, Group>()
  private unsubscribe: (() => void) | null = null
  private routing: Promise<void> = Promise.resolve()

  constructor(
    private readonly core: Core,
    private readonly stopping?: AbortSignal,
  ) {}

  /** Number of open streams (for /metrics-style checks and tests). */
  streamCount(): number {
    let n = 0
    for (const g of this.groups.values()) n += g.streams.size
    return n
  }

  private ensureSubscribed() {
    // Events are routed one after another, so a view sees them in the order they happened even
    // when routing one of them has to look up who the instance is shared with.
    this.unsubscribe ??= this.core.bus.subscribe('all', (event) => {
      this.routing = this.routing
        .then(() => this.route(event))
        .catch((err) => log.error({ err }, 'live routing failed'))
    })
  }

  private async route(event: BusEvent) {
    if (!('instanceId' in event)) return
    const interested = [...this.groups.values()].filter((g) => g.spec.wants(event))
    if (interested.length === 0) return
    // The owner always sees their instance; anyone else only if it is shared with them.
    let viewers: Set<string> | null = null
    if (interested.some((g) => g.spec.viewerId !== event.userId)) {
      viewers = new Set(await viewersOf(this.core, event.instanceId))
    }
    for (const group of interested) {
      if (group.spec.viewerId !== event.userId && !viewers?.has(group.spec.viewerId)) continue
      group.queued.push(event)
      if (!group.running) {
        group.running = true
        // A change publishes a few events back to back (message, then status): render once.
        setTimeout(() => void this.flush(group), COALESCE_MS)
      }
    }
  }

  /** Renders queued events once for the whole group; events arriving meanwhile make one more pass. */
  private async flush(group: Group) {
    try {
      while (group.queued.length > 0 && group.streams.size > 0) {
        const events = group.queued.splice(0)
        let items: LiveItem[]
        try {
          items = await group.spec.render(events)
        } catch (err) {
          log.error({ err }, 'live update render failed')
          continue
        }
        // The same bytes for every stream unless thread messages make each stream's share differ.
        const shared = items.some((i) => i.messageId)
          ? null
          : encoder.encode(sseFrame(items.map((i) => i.html).join('\n')))
        for (const stream of group.streams) {
          if (shared) stream.writeBytes(shared)
          else send(stream, items)
        }
      }
    } finally {
      group.running = false
      group.queued.length = 0
    }
  }

  /**
   * Opens an SSE response for a view. `initial` items (e.g. messages the page missed between its
   * render and this connection) are sent first; `lastMessageId` is where the page's thread ends.
   */
  open(
    spec: GroupSpec,
    opts: {
      request: Request
      server?: TimeoutServer
      initial?: () => Promise<LiveItem[]>
      lastMessageId?: string | null
    },
  ): Response {
    this.ensureSubscribed()
    opts.server?.timeout(opts.request, 0)
    let cleanup = () => {}
    const body = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        let closed = false
        const stream: Stream = {
          lastMessageId: opts.lastMessageId ?? null,
          write: (text) => stream.writeBytes(encoder.encode(text)),
          writeBytes: (bytes) => {
            if (closed) return
            try {
              controller.enqueue(bytes)
            } catch {
              cleanup()
            }
          },
        }
        let group = this.groups.get(spec.key)
        if (!group) {
          group = { spec, streams: new Set(), queued: [], running: false }
          this.groups.set(spec.key, group)
        }
        const joined = group
        joined.streams.add(stream)
        const keepalive = setInterval(() => stream.write(': keep-alive\n\n'), KEEPALIVE_MS)
        cleanup = () => {
          if (closed) return
          closed = true
          clearInterval(keepalive)
          joined.streams.delete(stream)
          if (joined.streams.size === 0 && this.groups.get(spec.key) === joined) this.groups.delete(spec.key)
          opts.request.signal.removeEventListener('abort', cleanup)
          this.stopping?.removeEventListener('abort', cleanup)
          try {
            controller.close()
          } catch {}
        }
        opts.request.signal.addEventListener('abort', cleanup, { once: true })
        this.stopping?.addEventListener('abort', cleanup, { once: true })
        if (opts.request.signal.aborted || this.stopping?.aborted) return cleanup()
        // Tell the browser at once that the stream is open (and retry quickly if it drops).
        stream.write('retry: 1000\n: connected\n\n')
        if (opts.initial) send(stream, await opts.initial())
      },
      cancel: () => cleanup(),
    })
    return new Response(body, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      },
    })
  }

  close(): void {
    this.unsubscribe?.()
    this.unsubscribe = null
  }
}

function send(stream: Stream, items: LiveItem[]) {
  const fresh = items.filter((item) => {
    if (!item.messageId) return true
    if (stream.lastMessageId && item.messageId <= stream.lastMessageId) return false
    return true
  })
  if (fresh.length === 0) return
  for (const item of fresh) {
    if (item.messageId && (!stream.lastMessageId || item.messageId > stream.lastMessageId)) {
      stream.lastMessageId = item.messageId
    }
  }
  stream.write(sseFrame(fresh.map((i) => i.html).join('\n'), stream.lastMessageId))
}
