// Before and after a change, in one run on one machine: the answer-latency, hook and ingest
// benchmarks against the server of each checkout in turn (A, B, A, B), each on a fresh database,
// with the ceilings measured next to each. Copy this bench/ directory into the older checkout
// first, so both are measured by the same code.
// `bun bench/before-after.ts /path/to/before /path/to/after`
import { createBenchDatabase } from './lib.ts'

const roots = process.argv.slice(2)
if (roots.length !== 2) {
  console.error('usage: bun bench/before-after.ts <before checkout> <after checkout>')
  process.exit(2)
}
for (const root of [...roots, ...roots]) {
  const { startInProcess } = await import(`${root}/bench/lib.ts`)
  const { ceilings } = await import(`${root}/bench/ceilings.ts`)
  const { ingest } = await import(`${root}/bench/ingest.ts`)
  const { answerLatency } = await import(`${root}/bench/answer-latency.ts`)
  const { hookAnswerLatency } = await import(`${root}/bench/hooks.ts`)
  const db = await createBenchDatabase()
  try {
    const floor = await ceilings(db.url)
    const run = await startInProcess(db.url)
    try {
      const sections = [
        floor.section,
        await answerLatency(run, floor.ceilings),
        await hookAnswerLatency(run),
        await ingest(run, db.url, floor.ceilings),
      ]
      for (const s of sections) {
        console.log(`${root} | ${s.title}`)
        for (const r of s.rows) console.log(`   ${r.what}: ${r.value}`)
        for (const f of s.failures) console.log(`   CHECK FAILED: ${f}`)
      }
    } finally {
      await run.parley.stop()
    }
  } finally {
    await db.drop()
  }
}
process.exit(0)
