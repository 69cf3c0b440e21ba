// A fake Anthropic Messages API: real HTTP on 127.0.0.1, so the real Claude Code CLI runs
// unmodified with ANTHROPIC_BASE_URL pointed here. Each request is answered by the test's script
// (a text reply or a tool_use), streamed as SSE like the real API; the requests are kept, so a
// test reads the tool_result of the call after a tool_use to see what the tool really did.

export type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content?: unknown; is_error?: boolean }
  | { type: string; [k: string]: unknown }

export type MessagesRequest = {
  model: string
  stream?: boolean
  system?: unknown
  tools?: { name: string }[]
  messages: { role: 'user' | 'assistant'; content: string | Block[] }[]
}

export type Turn = { text: string } | { tool: string; input: Record<string, unknown> }

export type ToolResult = { toolUseId: string; text: string; isError: boolean }

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

/** The text of a tool_result's content, whichever of its shapes it came in. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content))
    return content.map((c) => (typeof c === 'object' && c && 'text' in c ? String(c.text) : '')).join('')
  return ''
}

export class FakeAnthropic {
  readonly requests: MessagesRequest[] = []
  private server: ReturnType<typeof Bun.serve> | null = null
  private seq = 0

  /** `script` answers each request (it may take its time); requests without tools (titles, summaries) get `{text: 'ok'}`. */
  constructor(private readonly script: (req: MessagesRequest) => Turn | Promise<Turn>) {}

  get url(): string {
    return `http://127.0.0.1:${this.server!.port}`
  }

  start(): this {
    this.server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (req) => this.handle(req) })
    return this
  }

  stop(): void {
    this.server?.stop(true)
  }

  /** Every tool_result the CLI sent back, in order. */
  toolResults(): ToolResult[] {
    const seen = new Map<string, ToolResult>()
    for (const req of this.requests)
      for (const m of req.messages)
        if (m.role === 'user' && Array.isArray(m.content))
          for (const b of m.content)
            if (b.type === 'tool_result') {
              const r = b as { tool_use_id: string; content?: unknown; is_error?: boolean }
              seen.set(r.tool_use_id, {
                toolUseId: r.tool_use_id,
                text: contentText(r.content),
                isError: !!r.is_error,
              })
            }
    return [...seen.values()]
  }

  private async handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname
    if (req.method === 'HEAD' || req.method === 'GET') return new Response(null, { status: 200 })
    if (path.endsWith('/count_tokens')) return Response.json({ input_tokens: 100 })
    if (!path.endsWith('/v1/messages')) return Response.json({ error: 'not found' }, { status: 404 })
    const body = (await req.json()) as MessagesRequest
    this.requests.push(body)
    const turn = body.tools?.length ? await this.script(body) : { text: 'ok' }
    const id = `msg_${++this.seq}`
    const block: Block =
      'tool' in turn
        ? { type: 'tool_use', id: `toolu_${this.seq}`, name: turn.tool, input: turn.input }
        : { type: 'text', text: turn.text }
    const stopReason = 'tool' in turn ? 'tool_use' : 'end_turn'
    const usage = { input_tokens: 100, output_tokens: 10 }
    if (!body.stream)
      return Response.json({
        id,
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: [block],
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      })
    const start =
      block.type === 'tool_use'
        ? { ...block, input: {} }
        : block.type === 'text'
          ? { type: 'text', text: '' }
          : block
    const delta =
      block.type === 'tool_use'
        ? { type: 'input_json_delta', partial_json: JSON.stringify((block as { input: unknown }).input) }
        : { type: 'text_delta', text: (block as { text: string }).text }
    const events = [
      sse('message_start', {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 1 },
        },
      }),
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: start }),
      sse('content_block_delta', { type: 'content_block_delta', index: 0, delta }),
      sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
      sse('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: 10 },
      }),
      sse('message_stop', { type: 'message_stop' }),
    ]
    return new Response(events.join(''), {
      headers: {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'request-id': `req_${id}`,
      },
    })
  }
}

/**
 * The usual script: use `tool` once, then end the turn with `done` once its result came back.
 * Requests after that (another prompt) start over with the next entry of `tools`.
 */
export function oneToolPerPrompt(tools: { tool: string; input: Record<string, unknown> }[], done = 'Done.') {
  return (req: MessagesRequest): Turn => {
    const last = req.messages.at(-1)
    const answered = Array.isArray(last?.content) && last.content.some((b) => b.type === 'tool_result')
    if (answered) return { text: done }
    const prompts = req.messages.filter(
      (m) =>
        m.role === 'user' && !(Array.isArray(m.content) && m.content.some((b) => b.type === 'tool_result')),
    ).length
    return tools[Math.min(prompts, tools.length) - 1] ?? { text: done }
  }
}
