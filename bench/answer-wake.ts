// Answer latency alone, on a Postgres of its own: the long-poll and hook rounds of `bun run bench`
// without the rest, to compare the woken path before and after a change in one short run.
// `bun bench/answer-wake.ts [--hooks]`
import { answerLatency } from './answer-latency.ts'
import { hookAnswerLatency } from './hooks.ts'
import { createBenchDatabase, startInProcess } from './lib.ts'

const db = await createBenchDatabase()
try {
  const run = await startInProcess(db.url)
  try {
    const sections = [await answerLatency(run)]
    if (process.argv.includes('--hooks')) sections.push(await hookAnswerLatency(run))
    for (const s of sections) {
      console.log(s.title)
      for (const r of s.rows) console.log(`  ${r.what}: ${r.value}${r.target ? ` (target ${r.target})` : ''}`)
      for (const f of s.failures) console.log(`  failure: ${f}`)
    }
  } finally {
    await run.parley.stop()
  }
} finally {
  await db.drop()
}
