// Where Parley's own files are (migrations, browser assets, PGlite's wasm): beside the sources when
// run with `bun`, inside the executable when compiled by `bun run build`, which embeds each one under
// its path from the project root (scripts/build.ts). In the executable every module's
// import.meta.dir is the embedded root.
import { join } from 'node:path'

const ROOT = Bun.isStandaloneExecutable ? import.meta.dir : join(import.meta.dir, '..')

/** A file of the project by its path from the project root, e.g. `migrations/meta/_journal.json`. */
export const projectFile = (path: string): string => join(ROOT, path)
