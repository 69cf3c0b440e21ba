// The compiled executable as a Fly machine runs it: how soon it answers /healthz after being
// started on an already migrated Postgres database (what a restart or a new machine costs), and
// its resident memory once idle, which sizes the VM in fly.toml. The same on the embedded PGlite
// (the default, and the single-machine variant of docs/deploy.md): start on an existing data
// folder, idle memory after a restart and after the very first start (initdb). Built once, with
// `bun run build`'s script; run alone with `bun bench/binary.ts`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildBinary, runBinary } from '../test/deploy/run-binary.ts'
import { createBenchDatabase, percentile, type Row, rssKiB, type Section, sleep } from './lib.ts'

const STARTS = 7
/** Restarts on an existing PGlite data folder (each opens the embedded database: slower). */
const PGLITE_STARTS = 3
/** How long a started process is left alone before its memory is read. */
const IDLE_MS = 10_000

/** Resident memory of a process in MiB: anonymous (heaps) and file-backed (mostly the executable). */
function memory(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN)
  return { rss: rssKiB(pid) / 1024, anon: kib('RssAnon') / 1024, file: kib('RssFile') / 1024 }
}

const mib = (m: { rss: number; anon: number; file: number }) =>
  `${m.rss.toFixed(1)} MiB (${m.anon.toFixed(0)} anonymous, ${m.file.toFixed(0)} file)`

/** A port nothing listens on right now. */
function freePort(): number {
  const probe = Bun.serve({ port: 0, fetch: () => new Response() })
  const port = probe.port!
  probe.stop(true)
  return port
}

/** Starts the executable and polls /healthz every 2 ms; the time from spawn to the first 200. */
async function startTimed(path: string, env: Record<string, string>, cwd: string) {
  const base = `http://127.0.0.1:${env.PORT}`
  const started = performance.now()
  const proc = Bun.spawn([path], { cwd, env, stdin: 'ignore', stdout: 'ignore', stderr: 'inherit' })
  for (;;) {
    const ok = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) break
    if (proc.exitCode !== null) throw new Error(`parley exited (${proc.exitCode}) before answering /healthz`)
    if (performance.now() - started > 30_000) throw new Error('parley did not answer /healthz within 30 s')
    await sleep(2)
  }
  return { ms: performance.now() - started, proc }
}

async function stop(proc: Bun.Subprocess) {
  proc.kill('SIGTERM')
  await proc.exited
}

export async function binaryStartup(databaseUrl: string): Promise<Section> {
  const failures: string[] = []
  const bin = await buildBinary()
  try {
    const env = { DATABASE_URL: databaseUrl }
    const migrated = await runBinary(bin.path, ['migrate'], env)
    if (migrated.code !== 0) failures.push(`parley migrate exited ${migrated.code}: ${migrated.stderr}`)
    const starts: number[] = []
    const idle: number[] = []
    for (let i = 0; i < STARTS; i++) {
      const { ms, proc } = await startTimed(bin.path, { ...env, PORT: String(freePort()) }, bin.dir)
      starts.push(ms)
      // Memory is read on the first, third and last start: each costs IDLE_MS.
      if (i === 0 || i === 2 || i === STARTS - 1) {
        await sleep(IDLE_MS)
        idle.push(rssKiB(proc.pid) / 1024)
      }
      await stop(proc)
    }
    // Embedded PGlite in a data folder of its own: created (initdb, migrations) on the first
    // start, whose process is read once idle too, then restarted on it.
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-pglite-'))
    const pgliteStarts: number[] = []
    let firstStart = { ms: Number.NaN, rss: Number.NaN, anon: Number.NaN, file: Number.NaN }
    let pgliteIdle = { rss: Number.NaN, anon: Number.NaN, file: Number.NaN }
    try {
      const pgEnv = { PARLEY_DATA_DIR: dataDir }
      const first = await startTimed(bin.path, { ...pgEnv, PORT: String(freePort()) }, bin.dir)
      await sleep(IDLE_MS)
      firstStart = { ms: first.ms, ...memory(first.proc.pid) }
      await stop(first.proc)
      for (let i = 0; i < PGLITE_STARTS; i++) {
        const { ms, proc } = await startTimed(bin.path, { ...pgEnv, PORT: String(freePort()) }, bin.dir)
        pgliteStarts.push(ms)
        if (i === PGLITE_STARTS - 1) {
          await sleep(IDLE_MS)
          pgliteIdle = memory(proc.pid)
        }
        await stop(proc)
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
    const sorted = [...starts].sort((a, b) => a - b)
    const idleMiB = Math.max(...idle)
    const pgliteStartMs = percentile(
      [...pgliteStarts].sort((a, b) => a - b),
      50,
    )
    const rows: Row[] = [
      {
        what: `start to /healthz 200 on a migrated Postgres database, median of ${STARTS}`,
        value: `${percentile(sorted, 50).toFixed(0)} ms`,
        target: '< 500 ms',
        ok: percentile(sorted, 50) < 500,
      },
      { what: `start to /healthz 200, slowest of ${STARTS}`, value: `${sorted.at(-1)!.toFixed(0)} ms` },
      {
        what: `idle RSS on Postgres, ${IDLE_MS / 1000} s after start (largest of ${idle.length})`,
        value: `${idleMiB.toFixed(1)} MiB`,
        target: '<= 80 MiB',
        ok: idleMiB <= 80,
      },
      {
        what: `start to /healthz 200 on an existing PGlite data folder, median of ${PGLITE_STARTS}`,
        value: `${pgliteStartMs.toFixed(0)} ms`,
        target: '<= 1000 ms',
        ok: pgliteStartMs <= 1000,
      },
      {
        what: `idle RSS on PGlite, ${IDLE_MS / 1000} s after a restart`,
        value: mib(pgliteIdle),
        target: '<= 150 MiB',
        ok: pgliteIdle.rss <= 150,
      },
      {
        what: 'first start on PGlite (initdb, migrations) to /healthz 200',
        value: `${firstStart.ms.toFixed(0)} ms`,
      },
      { what: `idle RSS on PGlite, ${IDLE_MS / 1000} s after that first start`, value: mib(firstStart) },
      { what: 'executable size', value: `${(Bun.file(bin.path).size / 2 ** 20).toFixed(0)} MiB` },
    ]
    const notes = [
      `\`bun run build\` output (bytecode included), built in ${(bin.ms / 1000).toFixed(1)} s, started from a ` +
        'folder of its own with only PORT and DATABASE_URL, as the Docker image runs it. Start time is from ' +
        'spawn to the first 200 of /healthz, polled every 2 ms; the page cache is warm after the first ' +
        `start. RSS from /proc/<pid>/status with no forced GC (the server forces one after starting). ` +
        `Starts: ${starts.map((s) => s.toFixed(0)).join(', ')} ms; on PGlite ` +
        `${pgliteStarts.map((s) => s.toFixed(0)).join(', ')} ms.`,
    ]
    return { title: 'Compiled executable: cold start and idle memory', notes, rows, failures }
  } finally {
    rmSync(bin.dir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const db = await createBenchDatabase()
  try {
    const section = await binaryStartup(db.url)
    for (const n of section.notes) console.log(n)
    for (const r of section.rows)
      console.log(`  ${r.what}: ${r.value}${r.target ? `  target ${r.target}` : ''}`)
    for (const f of section.failures) console.log(`  CHECK FAILED: ${f}`)
  } finally {
    await db.drop()
  }
}
