// MCP at /mcp over Streamable HTTP. Stateless: the SDK (>= 1.26) refuses to reuse a server or a
// transport, so each request builds both, after its Bearer key has been checked. A blocking
// ask_question outlives its HTTP request's idle timeout, sends progress, and can be cancelled:
// `notifications/cancelled` arrives on a *different* request, so in-flight calls are found in a
// registry (and across machines through the bus). Whatever a request opens (its server, its
// transport, its hold on its key, the bus listener for cancellations) is closed when its
// response ends.
import { Elysia } from 'elysia'
import { sha256 } from '../auth/api-keys.ts'
import { hasCode, type Unauthorized } from '../errors.ts'
import type { EventBus } from '../events/bus.ts'
import { onFirstUse } from '../first-use.ts'
import { authenticate, requestAddress } from './auth.ts'
import type { McpContext } from './mcp-tools.ts'
import type { AgentDeps } from './rest.ts'

/**
 * The MCP SDK (with its JSON-schema and zod dependencies) and the tools, loaded by the first
 * request to /mcp: a server whose agents use REST or hooks never holds them.
 */
const loadSdk = onFirstUse(async () => {
  const [
    { McpServer },
    { WebStandardStreamableHTTPServerTransport },
    { registerTools },
    { registerApprove },
  ] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/mcp.js'),
    import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'),
    import('./mcp-tools.ts'),
    import('./mcp-approve.ts'),
  ])
  return { McpServer, WebStandardStreamableHTTPServerTransport, registerTools, registerApprove }
})

export type McpOptions = {
  /** How often a blocking call sends progress (DESIGN: at most 25 s apart). */
  progressMs?: number
  /** How long ask_question waits before giving up (Omnara: 24 h). */
  askTimeoutMs?: number
}

/** Sent to the agent when it connects (MCP `instructions`): when each tool is worth calling. */
const instructions = [
  'Parley shows your work to the person who started you, wherever they are (web, Slack, Telegram), and brings back their answers.',
  'Call log_step after each meaningful step (a plan made, a change done, a test run) with one short sentence; its result carries any message the person sent meanwhile: follow it.',
  'Call ask_question whenever you need a decision or information from the person instead of guessing; it waits for the answer. Give the choices as options when there are a few.',
  'The approve tool is the permission prompt for tools (--permission-prompt-tool mcp__parley__approve); do not call it yourself.',
  'Call end_session when the task is finished.',
].join('\n')

const PROGRESS_MS = 20_000
const ASK_TIMEOUT_MS = 86_400_000

/**
 * In-flight tool calls of this process, by key id and JSON-RPC request id, for cancellation. It
 * listens on the bus (cancellations from other machines) only while it holds a call.
 */
class InFlight {
  private readonly calls = new Map<string, AbortController>()
  private unsubscribe: (() => void) | null = null
  constructor(private readonly bus: EventBus) {}
  /**
   * A call's name: its key and JSON-RPC id. The id is the client's and of any length, and the name
   * travels in a cancellation's NOTIFY (8000 bytes at most): a digest of it keeps the name short.
   */
  key = (keyId: string, requestId: unknown) => `${keyId}:${sha256(JSON.stringify(requestId))}`
  add(key: string, c: AbortController) {
    this.calls.set(key, c)
    this.unsubscribe ??= this.bus.subscribe('all', (e) => {
      if (e.type === 'mcp.cancelled') this.cancel(e.call)
    })
    return () => {
      if (this.calls.get(key) === c) this.calls.delete(key)
      if (this.calls.size > 0) return
      this.unsubscribe?.()
      this.unsubscribe = null
    }
  }
  cancel(key: string) {
    this.calls.get(key)?.abort()
  }
}

/** `response` as it streams, calling `close` once when its body ends or its client goes away. */
function closingWhenDone(response: Response, signal: AbortSignal, close: () => void): Response {
  let closed = false
  const once = () => {
    if (closed) return
    closed = true
    signal.removeEventListener('abort', once)
    close()
  }
  if (!response.body) {
    once()
    return response
  }
  signal.addEventListener('abort', once, { once: true })
  const reader = response.body.getReader()
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read()
        if (done) {
          controller.close()
          once()
        } else controller.enqueue(value)
      } catch (err) {
        controller.error(err)
        once()
      }
    },
    async cancel(reason) {
      once()
      await reader.cancel(reason).catch(() => {})
    },
  })
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  })
}

function mcpAuthError(err: Unauthorized): Response {
  return new Response(JSON.stringify({ error: 'invalid_token', error_description: err.message }), {
    status: 401,
    headers: {
      'content-type': 'application/json',
      'www-authenticate': `Bearer error="invalid_token", error_description="${err.message}"`,
    },
  })
}

type JsonRpc = { method?: string; params?: { requestId?: unknown } }

export function agentMcp(deps: AgentDeps & { mcp?: McpOptions }) {
  const inFlight = new InFlight(deps.core.bus)

  const handle = async ({
    request,
    body,
    server,
  }: {
    request: Request
    body: unknown
    server: { timeout(r: Request, s: number): void; requestIP(r: Request): { address: string } | null } | null
  }) => {
    let principal: Awaited<ReturnType<typeof authenticate>>
    try {
      principal = await authenticate(
        deps.keys,
        request.headers.get('authorization'),
        requestAddress(request, server, deps.config),
      )
    } catch (err) {
      if (hasCode(err, 'UNAUTHORIZED')) return mcpAuthError(err)
      throw err
    }
    // The global JSON parser (src/http/errors.ts) has already read and size-checked the body.
    const parsedBody = request.method === 'POST' ? body : undefined
    if (parsedBody !== undefined) {
      for (const msg of Array.isArray(parsedBody) ? parsedBody : [parsedBody]) {
        const m = msg as JsonRpc
        if (m?.method === 'notifications/cancelled' && m.params?.requestId !== undefined) {
          const call = inFlight.key(principal.keyId, m.params.requestId)
          inFlight.cancel(call)
          await deps.core.bus.publish({ type: 'mcp.cancelled', call })
        }
      }
    }
    if (request.method !== 'POST') {
      // Stateless: no standalone server-to-client stream and no session to delete (spec: 405).
      return Response.json(
        { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Method not allowed: POST only' } },
        { status: 405, headers: { allow: 'POST' } },
      )
    }
    // Blocking tools outlive Bun's idle timeout; SSE keep-alives and progress keep bytes flowing.
    server?.timeout(request, 0)
    // Loaded before the key is held: a failure here holds nothing.
    const { McpServer, WebStandardStreamableHTTPServerTransport, registerTools, registerApprove } =
      await loadSdk()
    // A blocking ask or approve ends when its key is revoked or expires, as a long-poll does.
    const key = deps.keys.holdWhileValid(principal)
    const ctx: McpContext = {
      core: deps.core,
      principal,
      clientType: request.headers.get('x-client-type'),
      userAgent: request.headers.get('user-agent'),
      instanceHeader: request.headers.get('x-agent-instance-id'),
      stopping: deps.stopping,
      requestSignal: request.signal,
      keySignal: key.signal,
      progressMs: deps.mcp?.progressMs ?? PROGRESS_MS,
      askTimeoutMs: deps.mcp?.askTimeoutMs ?? ASK_TIMEOUT_MS,
      track: (requestId, controller) => inFlight.add(inFlight.key(principal.keyId, requestId), controller),
    }
    const mcp = new McpServer(
      { name: 'Parley', version: '1.0.0' },
      { capabilities: { tools: {} }, instructions },
    )
    registerTools(mcp, ctx)
    registerApprove(mcp, ctx)
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined })
    const close = () => {
      key.release()
      void Promise.all([transport.close(), mcp.close()]).catch(() => {})
    }
    try {
      await mcp.connect(transport)
      const response = await transport.handleRequest(request, {
        parsedBody,
        authInfo: { token: '', clientId: principal.userId, scopes: [] },
      })
      return closingWhenDone(response, request.signal, close)
    } catch (err) {
      close()
      throw err
    }
  }

  return new Elysia({ name: 'parley.agents.mcp' }).all('/mcp', handle).all('/mcp/', handle)
}
