// /docs: the API reference, generated from the route schemas (OpenAPI 3.1 via
// @elysiajs/openapi's toOpenAPISchema) and rendered as a plain HTML page by us, so it needs no
// CDN and no JavaScript. The JSON spec is at /docs/json. Only the agent-facing and operations
// endpoints are listed; dashboard pages are HTML for people, not API.
import { Elysia } from 'elysia'
import { DocsPage } from '../../views/docs.tsx'
import type { Core } from '../core/context.ts'
import { onFirstUse } from '../first-use.ts'
import { htmlResponse } from './http.ts'
import { sessionOf } from './session.ts'

const DOCUMENTED = /^\/(api\/|mcp$|hooks\/|healthz$|readyz$|metrics$)/

export type OpenApiSpec = {
  openapi: string
  info: { title: string; version: string; description: string }
  paths: Record<string, Record<string, Operation>>
  components: Record<string, unknown>
  security: Record<string, string[]>[]
}
export type Operation = {
  summary?: string
  description?: string
  parameters?: { name: string; in: string; required?: boolean; schema?: Record<string, unknown> }[]
  requestBody?: { content?: Record<string, { schema?: unknown }> }
  security?: Record<string, string[]>[]
}

type RouteLike = { method: string; path: string; hooks?: { body?: unknown } }

/** JSON Schema of a TypeBox schema (drops its Symbol keys). */
const plain = (schema: unknown) => JSON.parse(JSON.stringify(schema))

export async function buildSpec(app: Elysia): Promise<OpenApiSpec> {
  // Loaded by the first reader of /docs: the generator is not worth its memory in every process.
  const { toOpenAPISchema } = await import('@elysiajs/openapi')
  const generated = toOpenAPISchema(app as never) as { paths: Record<string, Record<string, Operation>> }
  // Our JSON body parser is a function hook, so the generator cannot tell the content type:
  // fill the request bodies in from the route schemas.
  const routes = (app as unknown as { getGlobalRoutes(): RouteLike[] }).getGlobalRoutes()
  const paths: OpenApiSpec['paths'] = {}
  for (const [path, ops] of Object.entries(generated.paths)) {
    if (!DOCUMENTED.test(path)) continue
    paths[path] = {}
    for (const [method, op] of Object.entries(ops)) {
      const route = routes.find(
        (r) => r.method.toLowerCase() === method && r.path.replace(/:(\w+)/g, '{$1}') === path,
      )
      const hasContent = op.requestBody?.content && Object.keys(op.requestBody.content).length > 0
      if (op.requestBody && !hasContent && route?.hooks?.body) {
        op.requestBody = {
          ...op.requestBody,
          content: { 'application/json': { schema: plain(route.hooks.body) } },
        }
      }
      if (path.startsWith('/api/') || path.startsWith('/hooks/') || path === '/mcp')
        op.security = [{ apiKey: [] }]
      paths[path][method] = op
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Parley API',
      version: '1',
      description:
        'The agent API (Omnara-compatible REST under /api/v1, MCP at /mcp, Claude Code and Codex hooks ' +
        'under /hooks) and operations endpoints. ' +
        'Authenticate with an API key as `Authorization: Bearer <key>`. Errors are JSON ' +
        '{"error":{"code","message","field"}} with an honest status; under /api/v1 they also carry `detail`.',
    },
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'A Parley API key' } },
    },
    security: [],
  }
}

export function webDocs(deps: { core: Core }) {
  const plugin: Elysia = new Elysia({ name: 'parley.web.docs' })
  // Built on first use, when every plugin of the app has registered its routes.
  const spec: () => Promise<OpenApiSpec> = onFirstUse(() => buildSpec(plugin))
  return plugin
    .get('/docs/json', () => spec(), { detail: { hide: true } })
    .get(
      '/docs',
      async ({ request }) => {
        const viewer = await sessionOf(deps.core.db, request)
        return htmlResponse(
          DocsPage({ spec: await spec(), user: viewer?.user, csrfToken: viewer?.csrfToken }),
        )
      },
      { detail: { hide: true } },
    )
}
