// Static files of the dashboard, served by us: htmx 4 and its SSE extension, xterm.js and its fit
// add-on straight from node_modules (no CDN, so the dashboard works offline and behind strict
// networks), our CSS, and the terminal's client script, bundled from TypeScript on first use.
import { join } from 'node:path'
import { Elysia } from 'elysia'

const fromPackage = (spec: string) => Bun.resolveSync(spec, import.meta.dir)

const FILES: Record<string, { path: string; type: string }> = {
  'htmx.js': { path: fromPackage('htmx.org/dist/htmx.js'), type: 'text/javascript; charset=utf-8' },
  'hx-sse.js': { path: fromPackage('htmx.org/dist/ext/hx-sse.js'), type: 'text/javascript; charset=utf-8' },
  'xterm.js': { path: fromPackage('@xterm/xterm/lib/xterm.js'), type: 'text/javascript; charset=utf-8' },
  'xterm.css': { path: fromPackage('@xterm/xterm/css/xterm.css'), type: 'text/css; charset=utf-8' },
  'addon-fit.js': {
    path: fromPackage('@xterm/addon-fit/lib/addon-fit.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'parley.css': { path: join(import.meta.dir, '../../views/parley.css'), type: 'text/css; charset=utf-8' },
}

/** Scripts written in TypeScript, bundled for the browser once per process (they import src/). */
const BUNDLES: Record<string, string> = {
  'terminal.js': join(import.meta.dir, 'terminal-client.ts'),
}
const bundled = new Map<string, Promise<string>>()

function bundle(entry: string): Promise<string> {
  let built = bundled.get(entry)
  if (!built) {
    built = Bun.build({ entrypoints: [entry], target: 'browser', minify: true }).then((out) => {
      if (!out.success || !out.outputs[0]) throw new AggregateError(out.logs, `bundling ${entry} failed`)
      return out.outputs[0].text()
    })
    bundled.set(entry, built)
  }
  return built
}

export const webAssets = new Elysia({ name: 'parley.web.assets' }).get(
  '/assets/:file',
  async ({ params, status }) => {
    const entry = BUNDLES[params.file]
    if (entry) {
      return new Response(await bundle(entry), {
        headers: {
          'content-type': 'text/javascript; charset=utf-8',
          'cache-control': 'public, max-age=3600',
        },
      })
    }
    const file = FILES[params.file]
    if (!file) return status(404, 'Not Found')
    return new Response(Bun.file(file.path), {
      headers: { 'content-type': file.type, 'cache-control': 'public, max-age=3600' },
    })
  },
)
