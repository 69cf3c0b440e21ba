// Prometheus text metrics: enough to see load and waiting work on a machine.
import { Elysia } from 'elysia'
import type { EventBus } from '../events/bus.ts'

export const metrics = (deps: { database: { queryCount(): number }; core: { bus: EventBus } }) =>
  new Elysia({ name: 'parley.metrics' }).get('/metrics', ({ set }) => {
    set.headers['content-type'] = 'text/plain; version=0.0.4'
    const bus = deps.core.bus as EventBus & { size?: () => number }
    const mem = process.memoryUsage()
    return [
      '# TYPE parley_db_queries_total counter',
      `parley_db_queries_total ${deps.database.queryCount()}`,
      '# TYPE parley_event_listeners gauge',
      `parley_event_listeners ${bus.size?.() ?? 0}`,
      '# TYPE parley_process_rss_bytes gauge',
      `parley_process_rss_bytes ${mem.rss}`,
      '',
    ].join('\n')
  })
