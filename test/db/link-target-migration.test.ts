// The migration that gives channel_links its delivery target fills it in for links made before
// it, exactly as deliveries addressed them: the Telegram chat id, or "team:user" for Slack.
import { expect, test } from 'bun:test'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPglite } from '../../src/db/client.ts'
import { migrate } from '../../src/db/migrate.ts'

const MIGRATIONS = join(import.meta.dir, '..', '..', 'migrations')

test('links made before the target column get the target deliveries used for them', async () => {
  // The migrations as they were before this one.
  const before = mkdtempSync(join(tmpdir(), 'parley-migrations-'))
  cpSync(MIGRATIONS, before, { recursive: true })
  const journalPath = join(before, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] }
  const at = journal.entries.findIndex((e) => e.tag === '0003_channel_link_target')
  journal.entries = journal.entries.slice(0, at)
  writeFileSync(journalPath, JSON.stringify(journal))

  const database = await openPglite(null)
  try {
    await migrate(database, before)
    const [user] = await database.query<{ id: string }>(
      `insert into users (email) values ('old-links@example.com') returning id`,
    )
    await database.query(
      `insert into channel_links (user_id, channel, chat_id, team_id, external_user_id)
       values ($1, 'telegram', '4242', null, null), ($1, 'slack', null, 'T1', 'U9')`,
      [user!.id],
    )
    expect(await migrate(database)).toContain('0003_channel_link_target')
    const rows = await database.query<{ channel: string; target: string }>(
      'select channel, target from channel_links order by channel',
    )
    expect(rows).toEqual([
      { channel: 'slack', target: 'T1:U9' },
      { channel: 'telegram', target: '4242' },
    ])
  } finally {
    await database.close()
    rmSync(before, { recursive: true, force: true })
  }
}, 60_000)
