// `bun run build`: one executable, dist/parley, holding the server, the CLI and every file Parley
// reads at run time (migrations, the browser assets of src/web/assets.ts, PGlite's wasm and data),
// embedded under their paths from the project root (src/project-files.ts finds them there). Copy
// the file anywhere and run it: `parley` serves, `parley migrate`, `parley users create …`.
// Usage: bun scripts/build.ts [outfile]   (default dist/parley)
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { EMBEDDED_SUFFIX, PGLITE_FILES } from '../src/db/client.ts'
import { ASSET_BUNDLES, ASSET_FILES, bundleAsset } from '../src/web/assets.ts'

const ROOT = join(import.meta.dir, '..')

/** Scale of the JIT's tier-up thresholds the executable starts with (Bun.unsafe.setJITPolicy). */
const STARTUP_JIT_POLICY = 8

/** Each browser asset's path from the project root; a file outside the project cannot be embedded. */
function assetPaths(): Record<string, string> {
  const paths: Record<string, string> = {}
  for (const [name, file] of Object.entries(ASSET_FILES)) {
    const path = relative(ROOT, file.path)
    if (path.startsWith('..') || isAbsolute(path))
      throw new Error(`asset ${name}: ${file.path} is outside ${ROOT}`)
    paths[name] = path
  }
  return paths
}

/**
 * A copy of the files to embed, laid out as in the project. Bun embeds a directory under its own
 * name and a file under its base name, so each top-level directory of this copy keeps every file's
 * full path from the project root.
 */
function stage(paths: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-build-'))
  for (const path of paths) {
    const from = join(ROOT, path)
    if (!existsSync(from)) throw new Error(`cannot embed ${path}: no such file (bun install?)`)
    cpSync(from, join(dir, path), { recursive: true })
  }
  return dir
}

export async function build(outfile: string): Promise<void> {
  const assets = assetPaths()
  const staged = stage(['migrations', ...Object.values(PGLITE_FILES), ...Object.values(assets)])
  try {
    // PGlite's files are read once, at start: compressed, fewer of the executable's pages stay resident.
    for (const path of Object.values(PGLITE_FILES)) {
      const file = join(staged, path)
      writeFileSync(file + EMBEDDED_SUFFIX, Bun.zstdCompressSync(readFileSync(file), { level: 9 }))
      rmSync(file)
    }
    // Scripts bundled from TypeScript are built now, and embedded like the other assets.
    for (const [name, entry] of Object.entries(ASSET_BUNDLES)) {
      const path = join('bundles', name)
      mkdirSync(dirname(join(staged, path)), { recursive: true })
      writeFileSync(join(staged, path), await bundleAsset(entry))
      assets[name] = path
    }
    const compile = async (bytecodeOrder: string[] = []) => {
      const result = await Bun.build({
        entrypoints: [join(ROOT, 'src/bin.ts')],
        root: ROOT,
        // Parsed ahead of time: on Postgres the executable answers /healthz about twice as soon.
        bytecode: true,
        format: 'esm',
        compile: {
          outfile,
          bytecodeOrder,
          // JavaScriptCore's tier-up thresholds times 8 until `serve` has started (src/main.ts resets
          // them): start-up code runs once, and compiling it left 4 MiB more in an idle server.
          jitPolicy: STARTUP_JIT_POLICY,
          assets: readdirSync(staged).map((name) => join(staged, name)),
        },
        // The executable serves each asset from its embedded copy: the list replaces the empty one.
        files: {
          [join(ROOT, 'src/web/embedded-assets.ts')]:
            `export const embeddedAssets: Readonly<Record<string, string>> = ${JSON.stringify(assets)}\n`,
        },
      })
      if (!result.success) throw new AggregateError(result.logs, 'build failed')
    }
    await compile()
    // Built again with the bytecode it runs when it serves laid out together at the front: an idle
    // server then holds 6 MiB fewer of the executable's pages (bench/binary.ts).
    const recording = mkdtempSync(join(tmpdir(), 'parley-order-'))
    try {
      await compile(await recordServing(outfile, recording))
    } finally {
      rmSync(recording, { recursive: true, force: true })
    }
  } finally {
    rmSync(staged, { recursive: true, force: true })
  }
}

/**
 * Runs the executable as a server on an embedded database of its own, twice: the first start
 * (initdb, migrations), then a restart on that data folder, which is what every later start runs.
 * Each run serves until start-up is over, answers /healthz and stops. Returns the two bytecode
 * profiles Bun wrote (the functions each run used, in order), the restart's first.
 */
async function recordServing(executable: string, dir: string): Promise<string[]> {
  const profiles = [join(dir, 'restart.order'), join(dir, 'first-start.order')]
  for (const profile of profiles.toReversed()) await serveOnce(executable, dir, profile)
  return profiles
}

const RECORD_LIMIT_MS = 120_000

async function serveOnce(executable: string, dir: string, profile: string): Promise<void> {
  // Only what the run needs: no DATABASE_URL, bot token or .env of the machine that builds.
  const proc = Bun.spawn([executable, 'serve'], {
    cwd: dir,
    env: { PORT: '0', PARLEY_DATA_DIR: join(dir, 'data'), BUN_BYTECODE_ORDER_OUT: profile },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const stderr = new Response(proc.stderr).text()
  const limit = setTimeout(() => proc.kill('SIGKILL'), RECORD_LIMIT_MS)
  try {
    // Start-up is over once the server names its dashboard (after listening and its one GC).
    const reader = proc.stdout.getReader()
    const decoder = new TextDecoder()
    let output = ''
    let url: string | undefined
    while (!url) {
      const { value, done } = await reader.read()
      if (done)
        throw new Error(`parley exited (${await proc.exited}) while starting:\n${output}${await stderr}`)
      output += decoder.decode(value, { stream: true })
      url = /Dashboard: (http\S+?)\/?"/.exec(output)?.[1]
    }
    void (async () => {
      while (!(await reader.read()).done) {}
    })()
    const health = await fetch(`${url}/healthz`)
    if (!health.ok) throw new Error(`parley answered /healthz with ${health.status}`)
    proc.kill('SIGTERM')
    const code = await proc.exited
    if (code !== 0) throw new Error(`parley exited ${code} when stopped:\n${await stderr}`)
    if (!existsSync(profile)) throw new Error(`parley wrote no bytecode profile to ${profile}`)
  } finally {
    clearTimeout(limit)
    proc.kill('SIGKILL')
  }
}

if (import.meta.main) {
  const outfile = resolve(process.argv[2] ?? join(ROOT, 'dist', 'parley'))
  const started = performance.now()
  await build(outfile)
  console.log(`built ${outfile} in ${Math.round(performance.now() - started)} ms`)
}
