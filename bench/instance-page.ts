// The instance page of a long session: 1,000 messages and a 1 MB git diff (2,000 files). The
// first load must stay small (the thread is paged, the diff summarised and folded) and quick.
// Timed on the client over keep-alive HTTP on 127.0.0.1, an upper bound of the server time.
import { postAgentMessage } from '../src/core/messages.ts'
import { webUser } from './dashboard.ts'
import { ms, percentile, type Running, type Section } from './lib.ts'

const MESSAGES = 1_000
const DIFF_FILES = 2_000
const RENDERS = 100

/** A unified diff of `files` files, about 500 bytes each. */
function bigDiff(files: number): string {
  const parts: string[] = []
  for (let i = 0; i < files; i++) {
    const path = `src/module_${i}/file_${i}.ts`
    parts.push(
      `diff --git a/${path} b/${path}`,
      'index 1111111..2222222 100644',
      `--- a/${path}`,
      `+++ b/${path}`,
      '@@ -1,4 +1,4 @@',
      ` export const name${i} = 'module ${i}'`,
      `-export const value${i} = ${i} // the old value of this constant, kept for a while`,
      `+export const value${i} = ${i + 1} // the new value of this constant, after the change`,
      ` export const unchanged${i} = true`,
      ` // end of file ${i} ${'.'.repeat(120)}`,
    )
  }
  return parts.join('\n')
}

export async function instancePage(run: Running): Promise<Section> {
  const failures: string[] = []
  const user = await webUser(run)
  const core = run.parley.core
  const instanceId = crypto.randomUUID()
  const diff = bigDiff(DIFF_FILES)
  for (let i = 0; i < MESSAGES; i++) {
    const last = i === MESSAGES - 1
    await postAgentMessage(core, {
      userId: user.id,
      instanceId,
      agentType: 'claude',
      content:
        i % 50 === 0 ? `Step ${i}:\n${'- a long line of the plan\n'.repeat(40)}` : `Step ${i}: **done**`,
      requiresUserInput: last,
      ...(last ? { gitDiff: diff } : {}),
    })
  }
  const get = async () => {
    const start = performance.now()
    const res = await fetch(`${run.base}/instances/${instanceId}`, { headers: { cookie: user.cookie } })
    const text = await res.text()
    return { status: res.status, bytes: Buffer.byteLength(text), took: performance.now() - start }
  }
  for (let i = 0; i < 5; i++) await get() // warm-up
  const samples: number[] = []
  let bytes = 0
  for (let i = 0; i < RENDERS; i++) {
    const r = await get()
    if (r.status !== 200) {
      failures.push(`render ${i}: HTTP ${r.status}`)
      break
    }
    bytes = r.bytes
    samples.push(r.took)
  }
  samples.sort((a, b) => a - b)
  const p95 = percentile(samples, 95)
  const kb = bytes / 1024
  return {
    title: 'Instance page of a long session (1,000 messages, 1 MB diff of 2,000 files)',
    notes: [
      `The diff is ${(Buffer.byteLength(diff) / 1024 / 1024).toFixed(2)} MiB. ${samples.length} sequential GET ` +
        '/instances/:id with a session cookie after 5 warm-ups: the page holds the last 50 messages and the ' +
        "diff's summary (first 30 files listed, folded; hunks inline up to 400 lines; the rest on the diff page).",
    ],
    rows: [
      {
        what: 'HTML size, first load',
        value: `${kb.toFixed(0)} KiB`,
        target: '< 300 KB',
        ok: bytes < 300_000,
      },
      { what: 'p50', value: ms(percentile(samples, 50)) },
      { what: 'p95', value: ms(p95), target: '< 50 ms', ok: p95 < 50 },
    ],
    failures,
  }
}

if (import.meta.main) {
  const { startInProcess } = await import('./lib.ts')
  const url = process.env.DATABASE_URL
  if (!url) throw new Error('DATABASE_URL (Postgres) is required')
  const run = await startInProcess(url)
  try {
    console.log(await instancePage(run))
  } finally {
    await run.parley.stop()
  }
}
