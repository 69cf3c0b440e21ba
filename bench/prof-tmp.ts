import { throughHttp } from './ingest.ts'
import { createBenchDatabase, startInProcess } from './lib.ts'
const db = await createBenchDatabase()
const run = await startInProcess(db.url)
console.log('msg/s', (await throughHttp(run)).toFixed(0))
await run.parley.stop(); await db.drop(); process.exit(0)
