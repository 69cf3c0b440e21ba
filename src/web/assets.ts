// Static files of the dashboard, served by us: htmx 4 and its SSE extension straight from
// node_modules (no CDN, so the dashboard works offline and behind strict networks) and our CSS.
import { join } from 'node:path'
import { Elysia } from 'elysia'

const fromPackage = (spec: string) => Bun.resolveSync(spec, import.meta.dir)

const FILES: Record<string, { path: string; type: string }> = {
  'htmx.js': { path: fromPackage('htmx.org/dist/htmx.js'), type: 'text/javascript; charset=utf-8' },
  'hx-sse.js': { path: fromPackage('htmx.org/dist/ext/hx-sse.js'), type: 'text/javascript; charset=utf-8' },
  'app.js': { path: join(import.meta.dir, '../../views/app.js'), type: 'text/javascript; charset=utf-8' },
  'parley.css': { path: join(import.meta.dir, '../../views/parley.css'), type: 'text/css; charset=utf-8' },
}

export const webAssets = new Elysia({ name: 'parley.web.assets' }).get(
  '/assets/:file',
  ({ params, status }) => {
    const file = FILES[params.file]
    if (!file) return status(404, 'Not Found')
    return new Response(Bun.file(file.path), {
      headers: { 'content-type': file.type, 'cache-control': 'public, max-age=3600' },
    })
  },
)
