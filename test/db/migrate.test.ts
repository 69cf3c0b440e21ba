// Migrations: applied once, and safe when two processes start at the same time.
import { describe, expect, test } from 'bun:test'
import { connectPostgres } from '../../src/db/client.ts'
import { migrate, pendingMigrations } from '../../src/db/migrate.ts'
import { freshDatabase, hasPostgres } from '../helpers.ts'

describe('migrations', () => {
  test('a migrated database has nothing left to apply', async () => {
    const db = await freshDatabase('pglite')
    expect(await migrate(db.database)).toEqual([])
    const tables = await db.database.query<{ n: number }>(
      "select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_name in ('users','api_keys','agent_types','agent_instances','messages','channel_links','link_codes','deliveries','instance_access','web_sessions')",
    )
    expect(tables[0]!.n).toBe(10)
    await db.drop()
  }, 60_000)

  test.skipIf(!hasPostgres())(
    'two processes migrating an empty Postgres at once: both succeed, each migration applied once',
    async () => {
      const base = process.env.DATABASE_URL!
      const name = `parley_m_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`
      const admin = connectPostgres(base, { max: 1 })
      await admin.query(`create database ${name}`)
      const url = new URL(base)
      url.pathname = `/${name}`
      const a = connectPostgres(url.toString())
      const b = connectPostgres(url.toString())
      try {
        const [ra, rb] = await Promise.all([migrate(a), migrate(b)])
        // Between them every migration ran exactly once.
        expect([...ra, ...rb].sort()).toEqual(
          pendingMigrations()
            .map((m) => m.tag)
            .sort(),
        )
        const rows = await a.query<{ tag: string }>('select tag from parley_migrations order by tag')
        expect(rows.map((r) => r.tag)).toEqual([...ra, ...rb].sort())
      } finally {
        await a.close()
        await b.close()
        await admin.query(`drop database if exists ${name} with (force)`)
        await admin.close()
      }
    },
  )
})
