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
    const result = await Bun.build({
      entrypoints: [join(ROOT, 'src/bin.ts')],
      root: ROOT,
      // Parsed ahead of time: on Postgres the executable answers /healthz about twice as soon.
      bytecode: true,
      format: 'esm',
      compile: { outfile, assets: readdirSync(staged).map((name) => join(staged, name)) },
      // The executable serves each asset from its embedded copy: the list replaces the empty one.
      files: {
        [join(ROOT, 'src/web/embedded-assets.ts')]:
          `export const embeddedAssets: Readonly<Record<string, string>> = ${JSON.stringify(assets)}\n`,
      },
    })
    if (!result.success) throw new AggregateError(result.logs, 'build failed')
  } finally {
    rmSync(staged, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const outfile = resolve(process.argv[2] ?? join(ROOT, 'dist', 'parley'))
  const started = performance.now()
  await build(outfile)
  console.log(`built ${outfile} in ${Math.round(performance.now() - started)} ms`)
}
