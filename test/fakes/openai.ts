// A fake OpenAI Responses API (POST /v1/responses, streaming SSE): real HTTP on 127.0.0.1, so the
// real Codex CLI runs unmodified with a model provider pointed here. Each request is answered by
// the test's script (a text reply or a function call); the requests are kept, so a test reads the
// function_call_output Codex sends back to see what the command really did.

export type ResponsesRequest = {
  model: string
  tools?: { name?: string; type?: string }[]
  input: { type?: string; role?: string; call_id?: string; output?: unknown; content?: unknown }[]
}

export type CodexTurn = { text: string } | { call: string; arguments: Record<string, unknown> }

export type CallOutput = { callId: string; output: string }

const sse = (data: { type: string; [k: string]: unknown }) =>
  `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`

export class FakeResponses {
  readonly requests: ResponsesRequest[] = []
  private server: ReturnType<typeof Bun.serve> | null = null
  private seq = 0

  constructor(private readonly script: (req: ResponsesRequest) => CodexTurn | Promise<CodexTurn>) {}

  /** The provider's base_url (Codex appends /responses). */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.server!.port}/v1`
  }

  start(): this {
    this.server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (req) => this.handle(req) })
    return this
  }

  stop(): void {
    this.server?.stop(true)
  }

  /** Every function_call_output Codex sent back, in order. */
  callOutputs(): CallOutput[] {
    const seen = new Map<string, CallOutput>()
    for (const req of this.requests)
      for (const item of req.input)
        if (item.type === 'function_call_output' && item.call_id) {
          const output = typeof item.output === 'string' ? item.output : JSON.stringify(item.output)
          seen.set(item.call_id, { callId: item.call_id, output })
        }
    return [...seen.values()]
  }

  private async handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname
    if (req.method !== 'POST' || !path.endsWith('/responses'))
      return Response.json({ error: { message: 'not found' } }, { status: 404 })
    const body = (await req.json()) as ResponsesRequest
    this.requests.push(body)
    const turn = await this.script(body)
    const n = ++this.seq
    const item =
      'call' in turn
        ? {
            type: 'function_call',
            id: `fc_${n}`,
            call_id: `call_${n}`,
            name: turn.call,
            arguments: JSON.stringify(turn.arguments),
            status: 'completed',
          }
        : {
            type: 'message',
            id: `msg_${n}`,
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: turn.text, annotations: [] }],
          }
    const response = { id: `resp_${n}`, object: 'response', model: body.model }
    const usage = {
      input_tokens: 100,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 10,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 110,
    }
    const events = [
      sse({ type: 'response.created', response: { ...response, status: 'in_progress', output: [] } }),
      sse({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress' } }),
      ...('text' in turn
        ? [
            sse({
              type: 'response.output_text.delta',
              item_id: item.id,
              output_index: 0,
              content_index: 0,
              delta: turn.text,
            }),
          ]
        : []),
      sse({ type: 'response.output_item.done', output_index: 0, item }),
      sse({
        type: 'response.completed',
        response: { ...response, status: 'completed', output: [item], usage },
      }),
    ]
    return new Response(events.join(''), { headers: { 'content-type': 'text/event-stream' } })
  }
}
