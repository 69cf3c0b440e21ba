// The process's Prometheus metrics (prom-client): Node/Bun process metrics, HTTP requests by route,
// websocket connections and the event bus's cross-process delay. They describe this process, so
// they live in one registry per process whatever number of Parley apps it runs (tests run several);
// what a Parley app knows (waiting agents, open questions, the outbox) is collected per app by
// src/http/metrics.ts at scrape time.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

export const processRegistry = new Registry()
collectDefaultMetrics({ register: processRegistry })

export const httpRequests = new Counter({
  name: 'parley_http_requests_total',
  help: 'HTTP requests answered, by method, route pattern and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [processRegistry],
})

export const httpDuration = new Histogram({
  name: 'parley_http_request_duration_seconds',
  help: 'Time to answer an HTTP request (long-polls and blocking calls included), by route pattern',
  labelNames: ['method', 'route'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [processRegistry],
})

const websockets = new Gauge({
  name: 'parley_websocket_connections',
  help: 'Open websocket connections, by role',
  labelNames: ['role'] as const,
  registers: [processRegistry],
})

/** Counts an open websocket (e.g. role `agent` or `viewer`); call the result when it closes. */
export function countWebSocket(role: string): () => void {
  websockets.inc({ role })
  let open = true
  return () => {
    if (!open) return
    open = false
    websockets.dec({ role })
  }
}

const busDelay = new Histogram({
  name: 'parley_event_bus_delay_seconds',
  help: 'From publishing an event on one process to receiving it on this one (LISTEN/NOTIFY)',
  buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
  registers: [processRegistry],
})

/** Records how long an event took to arrive from another process (clocks of different machines may drift). */
export function observeBusDelay(seconds: number): void {
  busDelay.observe(Math.max(0, seconds))
}

const outboxFailures = new Counter({
  name: 'parley_outbox_failures_total',
  help: 'Outbox sends that failed on this process, by channel and outcome (retry later, or failed for good)',
  labelNames: ['channel', 'outcome'] as const,
  registers: [processRegistry],
})

export function countOutboxFailure(channel: string, outcome: 'retry' | 'failed'): void {
  outboxFailures.inc({ channel, outcome })
}
