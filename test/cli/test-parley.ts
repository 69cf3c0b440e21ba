// A running Parley for tests of the CLI and of real agents: a real server on 127.0.0.1, `parley`
// on a PATH of its own (as `bun link` puts it there, so hooks that run `parley hook` find it), and
// a person's answer given the way the dashboard gives it.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { answerQuestion } from '../../src/core/answers.ts'
import { APPROVAL_OPTIONS } from '../../src/core/hooks/approval-text.ts'
import { type Parley, startParley } from '../../src/main.ts'
import { type DbKind, freshDatabase, type TestDb } from '../helpers.ts'
import { cliPath } from './run-cli.ts'

export type TestParley = {
  db: TestDb
  parley: Parley
  url: string
  /** PATH with `parley` first. */
  path: string
  /**
   * A person's reply in the instance (the dashboard's path: it leaves the read cursor alone). An
   * approval's option (Allow, Allow for this session, Deny) is its button pressed on the open
   * approval, as only a button allows.
   */
  answer(key: string, instanceId: string, content: string): Promise<Response>
  close(): Promise<void>
}

export async function startTestParley(kind: DbKind = 'pglite'): Promise<TestParley> {
  const db = await freshDatabase(kind)
  const parley = await startParley(loadConfig({ PORT: '0' }), { database: db.database, quiet: true })
  const url = `http://127.0.0.1:${parley.port}`
  const bin = mkdtempSync(join(tmpdir(), 'parley-bin-'))
  writeFileSync(join(bin, 'parley'), `#!/bin/sh\nexec bun ${cliPath} "$@"\n`)
  chmodSync(join(bin, 'parley'), 0o755)
  return {
    db,
    parley,
    url,
    path: `${bin}:${process.env.PATH}`,
    answer: async (key, instanceId, content) => {
      const option = (APPROVAL_OPTIONS as readonly string[]).indexOf(content)
      if (option >= 0) {
        const [open] = await db.database.query<{ id: string; user_id: string }>(
          `select id, user_id from messages where instance_id = $1 and requires_user_input
             and answered_at is null order by id desc limit 1`,
          [instanceId],
        )
        if (open) {
          const outcome = await answerQuestion(parley.core, {
            actorUserId: open.user_id,
            questionId: open.id,
            answer: { option },
            channel: 'web',
          })
          return Response.json(outcome, { status: outcome.status === 'answered' ? 200 : 409 })
        }
      }
      return fetch(`${url}/api/v1/messages/user`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_instance_id: instanceId, content, mark_as_read: false }),
      })
    },
    close: async () => {
      await parley.stop()
      await db.drop()
      rmSync(bin, { recursive: true, force: true })
    },
  }
}
