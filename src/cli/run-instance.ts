// The instance a `parley run` terminal belongs to, through the agent REST API: registered before
// the terminal is streamed (so heartbeats have something to beat for), kept alive with heartbeats,
// and ended COMPLETED or FAILED. Parley being unreachable is waited out (registration is tried
// again at each beat); only a refusal, which no retry can fix, is an error.

/** Omnara's wrappers beat every 30 s; the server counts an instance gone well after that. */
const HEARTBEAT_MS = 30_000
/** How long one REST call may take before it counts as failed. */
const REST_TIMEOUT_MS = 10_000

/** The server refused the key or the instance: running on would stream nowhere. */
export class Refused extends Error {}
export const KEY_REFUSED = 'the API key was refused (revoked, expired or unknown)'

export type InstanceInfo = { id: string; agentType: string; name: string }

/** One call to Parley's agent REST API (`/api/v1…`) with the key, JSON both ways. */
export function agentApi(
  client: { url: string; apiKey: string },
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${client.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  })
}

export class RunInstance {
  private registered = false
  private beat: ReturnType<typeof setInterval> | null = null

  constructor(
    private readonly url: string,
    private readonly apiKey: string,
    readonly info: InstanceInfo,
    private readonly heartbeatMs = HEARTBEAT_MS,
  ) {}

  private rest(method: string, path: string, body?: unknown): Promise<Response> {
    const client = { url: this.url, apiKey: this.apiKey }
    return agentApi(client, method, path, body, AbortSignal.timeout(REST_TIMEOUT_MS))
  }

  /**
   * Creates the instance, or finds it already ours (409). True once it exists; false when the
   * server could not be reached (tried again later); throws Refused when it never will work.
   */
  async register(): Promise<boolean> {
    if (this.registered) return true
    let res: Response
    try {
      res = await this.rest('POST', '/agent-instances', {
        agent_instance_id: this.info.id,
        agent_type: this.info.agentType,
        name: this.info.name,
        transport: 'relay',
      })
    } catch {
      return false
    }
    const json = (await res.json().catch(() => ({}))) as { detail?: string }
    if (res.status === 409) {
      // Ours already: unless it was deleted, which nothing brings back (the relay would stream
      // to a page nobody can open).
      const found = await this.rest('GET', `/agent-instances/${this.info.id}`).catch(() => null)
      if (!found) return false
      const existing = (await found.json().catch(() => ({}))) as { status?: string }
      if (existing.status === 'DELETED') throw new Refused(`the instance ${this.info.id} was deleted`)
      this.registered = found.ok
    } else if (res.status === 201) this.registered = true
    else if (res.status === 401) throw new Refused(KEY_REFUSED)
    else if (res.status < 500) throw new Refused(`${res.status}: ${json.detail ?? res.statusText}`)
    return this.registered
  }

  /** Heartbeats until `end`; a missed beat is not worth a word (the relay link says when Parley is away). */
  startBeating(): void {
    this.beat = setInterval(async () => {
      try {
        if (await this.register()) await this.rest('POST', `/agents/instances/${this.info.id}/heartbeat`)
      } catch {}
    }, this.heartbeatMs)
  }

  /** Ends the session by CMD's exit status; returns a line for the person when it could not. */
  async end(exitStatus: number): Promise<string | null> {
    if (this.beat) clearInterval(this.beat)
    if (!(await this.register().catch(() => false))) return 'could not mark the session ended (unreachable)'
    const res = await this.rest('PUT', `/agent-instances/${this.info.id}/status`, {
      status: exitStatus === 0 ? 'COMPLETED' : 'FAILED',
    }).catch(() => null)
    return res?.ok ? null : `could not mark the session ended (${res?.status ?? 'unreachable'})`
  }
}
