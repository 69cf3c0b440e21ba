// The API reference page, rendered from the OpenAPI spec: one section per endpoint with its
// parameters and body fields, readable without JavaScript and on a phone.
import type { OpenApiSpec, Operation } from '../src/web/docs.ts'
import { Layout, type LayoutUser } from './layout.tsx'

type Schema = {
  type?: string | string[]
  anyOf?: Schema[]
  items?: Schema
  properties?: Record<string, Schema>
  required?: string[]
  maxLength?: number
  minLength?: number
  maximum?: number
  minimum?: number
  maxItems?: number
  description?: string
  patternProperties?: Record<string, Schema>
}

/** The in-page anchor of an endpoint. */
const anchor = (method: string, path: string) => `${method}-${path}`.replace(/[^a-z0-9]+/gi, '-')

export function typeLabel(s: Schema | undefined): string {
  if (!s) return 'any'
  if (s.anyOf) {
    const kinds = s.anyOf.filter((x) => x.type !== 'null').map(typeLabel)
    const nullable = s.anyOf.some((x) => x.type === 'null')
    return `${kinds.join(' | ')}${nullable ? ' or null' : ''}`
  }
  if (s.type === 'array') return `array of ${typeLabel(s.items)}`
  if (s.type === 'object' && !s.properties) return 'object'
  return Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'any')
}

function limits(s: Schema): string {
  const inner = s.anyOf?.find((x) => x.type !== 'null') ?? s
  const parts: string[] = []
  if (inner.minLength !== undefined) parts.push(`min length ${inner.minLength}`)
  if (inner.maxLength !== undefined) parts.push(`max length ${inner.maxLength}`)
  if (inner.minimum !== undefined) parts.push(`≥ ${inner.minimum}`)
  if (inner.maximum !== undefined) parts.push(`≤ ${inner.maximum}`)
  if (inner.maxItems !== undefined) parts.push(`at most ${inner.maxItems} items`)
  if (inner.items?.maxLength !== undefined) parts.push(`each at most ${inner.items.maxLength} chars`)
  return parts.join(', ')
}

function FieldTable(props: {
  caption: string
  rows: { name: string; where?: string; required: boolean; schema?: Schema }[]
}) {
  return (
    <div class="table-wrap">
      <table>
        <caption safe>{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Required</th>
            <th scope="col">Limits</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr>
              <td>
                <code safe>{r.name}</code>
                {r.where ? <span class="muted" safe>{` (${r.where})`}</span> : ''}
              </td>
              <td safe>{typeLabel(r.schema)}</td>
              <td>{r.required ? 'yes' : 'no'}</td>
              <td>{r.schema ? limits(r.schema) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function Endpoint({ method, path, op }: { method: string; path: string; op: Operation }) {
  const body = op.requestBody?.content?.['application/json']?.schema as Schema | undefined
  const params = (op.parameters ?? []).map((p) => ({
    name: p.name,
    where: p.in,
    required: p.required ?? false,
    schema: p.schema as Schema,
  }))
  const fields = Object.entries(body?.properties ?? {}).map(([name, schema]) => ({
    name,
    required: body?.required?.includes(name) ?? false,
    schema,
  }))
  const id = anchor(method, path)
  return (
    <section class="card" id={id} aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>
        <code safe>{`${method.toUpperCase()} ${path}`}</code>
      </h2>
      {op.summary ? <p safe>{op.summary}</p> : ''}
      {op.security ? <p class="muted">Needs an API key (Bearer).</p> : ''}
      {params.length > 0 ? <FieldTable caption="Parameters" rows={params} /> : ''}
      {fields.length > 0 ? <FieldTable caption="JSON body" rows={fields} /> : ''}
    </section>
  )
}

export function DocsPage({
  spec,
  user,
  csrfToken,
}: {
  spec: OpenApiSpec
  user?: LayoutUser
  csrfToken?: string
}) {
  const entries = Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ path, method, op })),
  )
  return (
    <Layout title="API documentation" user={user} csrfToken={csrfToken}>
      <h1 safe>{spec.info.title}</h1>
      <p safe>{spec.info.description}</p>
      <p>
        Machine-readable: <a href="/docs/json" safe>{`OpenAPI ${spec.openapi} JSON`}</a>.
      </p>
      <nav aria-label="Endpoints">
        <ul>
          {entries.map((e) => (
            <li>
              <a href={`#${anchor(e.method, e.path)}`}>
                <code safe>{`${e.method.toUpperCase()} ${e.path}`}</code>
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {entries.map((e) => (
        <Endpoint method={e.method} path={e.path} op={e.op} />
      ))}
    </Layout>
  )
}
