// Static files of the dashboard, served by us: htmx 4 and its SSE extension, xterm.js and its fit
// add-on straight from node_modules (no CDN, so the dashboard works offline and behind strict
// networks), our CSS and script, and the terminal's client script, bundled from TypeScript (every
// bit of the dashboard's JavaScript is a file here: the CSP allows no inline script). These tables are
// the one list of them: `bun run build` embeds every file named here (and each bundle, built
// ahead) into the executable, which then serves each from there (embedded-assets.ts).
import { Elysia } from 'elysia'
import { projectFile } from '../project-files.ts'
import { embeddedAssets } from './embedded-assets.ts'
import { lookup } from './http.ts'

// The compiled executable has no node_modules to resolve from: it serves the embedded copy instead.
const fromPackage = (spec: string) =>
  Bun.isStandaloneExecutable ? spec : Bun.resolveSync(spec, import.meta.dir)

const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

/** Every file under /assets/: its name in the URL, where it is when run from sources, its type. */
export const ASSET_FILES: Record<string, { path: string; type: string }> = {
  'htmx.js': { path: fromPackage('htmx.org/dist/htmx.js'), type: JS },
  'hx-sse.js': { path: fromPackage('htmx.org/dist/ext/hx-sse.js'), type: JS },
  'xterm.js': { path: fromPackage('@xterm/xterm/lib/xterm.js'), type: JS },
  'xterm.css': { path: fromPackage('@xterm/xterm/css/xterm.css'), type: CSS },
  'addon-fit.js': { path: fromPackage('@xterm/addon-fit/lib/addon-fit.js'), type: JS },
  'parley.css': { path: projectFile('views/parley.css'), type: CSS },
  'parley.js': { path: projectFile('views/parley.js'), type: JS },
}

/** Browser scripts written in TypeScript (they import src/): name -> entry point from the project root. */
export const ASSET_BUNDLES: Record<string, string> = {
  'terminal.js': 'src/web/terminal-client.ts',
}

/** Bundles one of ASSET_BUNDLES for the browser (from sources: once per process, on first use). */
export async function bundleAsset(entry: string): Promise<string> {
  const out = await Bun.build({ entrypoints: [projectFile(entry)], target: 'browser', minify: true })
  if (!out.success || !out.outputs[0]) throw new AggregateError(out.logs, `bundling ${entry} failed`)
  return out.outputs[0].text()
}
const bundled = new Map<string, Promise<string>>()

const headers = (type: string) => ({ 'content-type': type, 'cache-control': 'public, max-age=3600' })

export const webAssets = new Elysia({ name: 'parley.web.assets' }).get(
  '/assets/:file',
  async ({ params, status }) => {
    const name = params.file
    // Own keys only: /assets/valueOf names no file.
    const embedded = lookup(embeddedAssets, name)
    const file = lookup(ASSET_FILES, name)
    const entry = lookup(ASSET_BUNDLES, name)
    if (!file && !entry) return status(404, 'Not Found')
    const type = file?.type ?? JS
    if (embedded) return new Response(Bun.file(projectFile(embedded)), { headers: headers(type) })
    if (entry) {
      let built = bundled.get(entry)
      if (!built) {
        built = bundleAsset(entry)
        bundled.set(entry, built)
        // A failed build is not kept: the next request tries again (the file may have been fixed).
        built.catch(() => bundled.delete(entry))
      }
      return new Response(await built, { headers: headers(type) })
    }
    return new Response(Bun.file(file!.path), { headers: headers(type) })
  },
)
