// Static files of the dashboard, served by us: htmx 4 and its SSE extension straight from
// node_modules (no CDN, so the dashboard works offline and behind strict networks) and our CSS.
// This table is the one list of them: `bun run build` embeds every file named here into the
// executable, which then serves each from there (embedded-assets.ts).
import { Elysia } from 'elysia'
import { projectFile } from '../project-files.ts'
import { embeddedAssets } from './embedded-assets.ts'

// The compiled executable has no node_modules to resolve from: it serves the embedded copy instead.
const fromPackage = (spec: string) =>
  Bun.isStandaloneExecutable ? spec : Bun.resolveSync(spec, import.meta.dir)

/** Every file under /assets/: its name in the URL, where it is when run from sources, its type. */
export const ASSET_FILES: Record<string, { path: string; type: string }> = {
  'htmx.js': { path: fromPackage('htmx.org/dist/htmx.js'), type: 'text/javascript; charset=utf-8' },
  'hx-sse.js': { path: fromPackage('htmx.org/dist/ext/hx-sse.js'), type: 'text/javascript; charset=utf-8' },
  'parley.css': { path: projectFile('views/parley.css'), type: 'text/css; charset=utf-8' },
}

const pathOf = (name: string, file: { path: string }) => {
  const embedded = embeddedAssets[name]
  return embedded ? projectFile(embedded) : file.path
}

export const webAssets = new Elysia({ name: 'parley.web.assets' }).get(
  '/assets/:file',
  ({ params, status }) => {
    const file = ASSET_FILES[params.file]
    if (!file) return status(404, 'Not Found')
    return new Response(Bun.file(pathOf(params.file, file)), {
      headers: { 'content-type': file.type, 'cache-control': 'public, max-age=3600' },
    })
  },
)
