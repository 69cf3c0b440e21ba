// Agent hooks: POST /hooks/claude-code and POST /hooks/codex (Bearer API key, as /api/v1). The
// body is the JSON the agent gives a hook on stdin; the 200 answer is what the hook prints, {}
// when Parley has no decision. Claude Code calls it as an HTTP hook, `parley hook` is the command
// form. A request that waits for a person is held open with Bun's idle timeout lifted.
//
// The hook's own timeout: the server cannot see it, so the configuration passes it along as
// `?timeout=SECONDS` on the URL, the same number as the hook's `timeout` setting (both Claude Code
// and Codex default to 600 s). Parley answers {} a margin before it, so the agent falls back to its
// own prompt instead of treating a cancelled hook as an error; it never allows or denies silently.
import { Elysia, t } from 'elysia'
import type { KeyPrincipal } from '../auth/api-keys.ts'
import { handleHook } from '../core/hooks/handle.ts'
import { HOOK_AGENTS, type HookAgent, MAX_HOOK_TIMEOUT_S } from '../core/hooks/payload.ts'
import { InvalidInput, Unauthorized } from '../errors.ts'
import { agentAuth } from './auth.ts'
import type { AgentDeps } from './rest.ts'

/** The agents' documented default hook timeout, used when the URL does not say. */
export const DEFAULT_HOOK_TIMEOUT_S = 600

/** How long before the hook's own timeout Parley gives up waiting: 5%, between 1 and 10 s. */
export const holdMs = (timeoutS: number) => timeoutS * 1000 - Math.min(10_000, Math.max(1000, timeoutS * 50))

function hookTimeout(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_HOOK_TIMEOUT_S
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 1 || n > MAX_HOOK_TIMEOUT_S)
    throw new InvalidInput(
      'timeout',
      `timeout must be a number of seconds between 1 and ${MAX_HOOK_TIMEOUT_S}`,
    )
  return n
}

const body = t.Record(t.String(), t.Unknown(), { description: "The hook's stdin JSON" })
const query = t.Object({
  timeout: t.Optional(t.String({ description: "The hook's configured timeout in seconds (default 600)" })),
})
const response = t.Record(t.String(), t.Unknown(), {
  description: 'What the hook prints; {} for no decision',
})

export const agentHooks = (deps: AgentDeps) => {
  const route =
    (agent: HookAgent) =>
    async (ctx: {
      body: Record<string, unknown>
      query: { timeout?: string }
      principal: KeyPrincipal
      request: Request
      server: { timeout(request: Request, seconds: number): void } | null
    }) => {
      const timeoutS = hookTimeout(ctx.query.timeout)
      // Approvals wait for a person for minutes: lift the idle timeout for this request only.
      ctx.server?.timeout(ctx.request, 0)
      // A key revoked while its request waits ends the wait: nothing is decided with a dead key.
      const key = deps.keys.holdWhileValid(ctx.principal)
      try {
        const output = await handleHook(deps.core, {
          userId: ctx.principal.userId,
          agent,
          body: ctx.body,
          hold: {
            deadline: Date.now() + holdMs(timeoutS),
            signal: AbortSignal.any([ctx.request.signal, deps.stopping, key.signal]),
            restarting: deps.stopping,
          },
        })
        if (key.signal.aborted)
          throw new Unauthorized('API key was revoked or expired while the request waited')
        return output
      } finally {
        key.release()
      }
    }
  const detail = (name: string) => ({ summary: `${name} hook events (body: the hook's stdin JSON)` })
  return new Elysia({ name: 'parley.agents.hooks', prefix: '/hooks' })
    .use(agentAuth(deps.keys, deps.config))
    .post('/claude-code', route(HOOK_AGENTS['claude-code']), {
      body,
      query,
      response,
      detail: detail('Claude Code'),
    })
    .post('/codex', route(HOOK_AGENTS.codex), { body, query, response, detail: detail('Codex') })
}
