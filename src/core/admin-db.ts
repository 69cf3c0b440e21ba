// The database as the admin commands (`parley migrate`, `users`, `keys`, `links`) use it: opened
// from the config (Postgres, or the embedded database or the running server's socket), migrated,
// handed to one piece of work, and closed, so the CLI itself holds no database code.
import { type Db, openDatabase } from '../db/client.ts'
import { migrate } from '../db/migrate.ts'

export async function withMigratedDb<T>(
  cfg: { databaseUrl: string | null; dataDir: string },
  work: (db: Db, applied: string[]) => Promise<T>,
): Promise<T> {
  const database = await openDatabase(cfg)
  try {
    const applied = await migrate(database)
    return await work(database.db, applied)
  } finally {
    await database.close()
  }
}
