// GET /metrics in Prometheus' text format (prom-client): the process's metrics (src/metrics.ts)
// followed by what this Parley knows: agents waiting on this process, open questions and the
// outbox backlog of the whole deployment (one SQL statement per scrape), event listeners and
// the database statements Parley issued. With PARLEY_METRICS_TOKEN set, the scrape must send it
// as a Bearer token.
import { Elysia } from 'elysia'
import { Gauge, Registry } from 'prom-client'
import { bearerToken } from '../agents/auth.ts'
import { constantTimeEqual } from '../auth/csrf.ts'
import { readBacklog } from '../core/backlog.ts'
import type { Core } from '../core/context.ts'
import type { Db } from '../db/client.ts'
import { Unauthorized } from '../errors.ts'
import { processRegistry } from '../metrics.ts'

type MetricsDeps = {
  config: { metricsToken: string | null }
  database: { db: Db; queryCount(): number }
  core: Core
}

export function metrics(deps: MetricsDeps) {
  const registry = new Registry()
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] })
  const waiting = gauge('parley_agents_waiting', 'Agent requests waiting for an answer on this process')
  const open = gauge('parley_open_questions', 'Questions waiting for an answer (whole deployment)')
  const backlog = gauge('parley_outbox_backlog', 'Outbox rows still to send, by channel', ['channel'])
  const listeners = gauge('parley_event_listeners', 'Listeners attached to the event bus on this process')
  const queries = gauge('parley_db_queries_total', 'SQL statements issued by Parley (scrapes excepted)')
  // Each scrape issues one statement (readBacklog); the query count leaves them out, so an idle
  // process reads as idle however often it is scraped.
  let scrapes = 0

  const authorized = (header: string | null) => {
    const token = deps.config.metricsToken
    if (token === null) return true
    const given = bearerToken(header) ?? ''
    return constantTimeEqual(given, token)
  }

  return new Elysia({ name: 'parley.metrics' }).get('/metrics', async ({ request, set }) => {
    if (!authorized(request.headers.get('authorization'))) throw new Unauthorized('metrics token required')
    queries.set(deps.database.queryCount() - scrapes)
    scrapes++
    const now = await readBacklog(deps.database.db)
    waiting.set(deps.core.presence?.waiting?.() ?? 0)
    open.set(now.openQuestions)
    backlog.reset()
    for (const row of now.outbox) backlog.set({ channel: row.channel }, row.pending)
    listeners.set(deps.core.bus.size())
    set.headers['content-type'] = registry.contentType
    return (await processRegistry.metrics()) + (await registry.metrics())
  })
}
