// Liveness and readiness. /healthz says the process serves; /readyz also asks the database and
// turns 503 while the process drains, so a load balancer stops sending it traffic.
import { Elysia } from 'elysia'

/** What readiness asks of the database: which one it is, and whether it answers. */
type Pingable = { kind: string; ping(): Promise<void> }

export const health = (deps: { database: Pingable; stopping: AbortSignal }) =>
  new Elysia({ name: 'parley.health' })
    .get('/healthz', () => ({ status: 'ok' }))
    .get('/health', () => ({ status: 'healthy', server: 'unified' }))
    .get('/readyz', async ({ set }) => {
      if (deps.stopping.aborted) {
        set.status = 503
        return { status: 'stopping' }
      }
      try {
        await Promise.race([
          deps.database.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('database ping timed out')), 2000)),
        ])
        return { status: 'ready', database: deps.database.kind }
      } catch (err) {
        set.status = 503
        return { status: 'unavailable', error: (err as Error).message }
      }
    })
