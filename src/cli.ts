#!/usr/bin/env bun
// The `parley` command. Admin commands (migrate, users, keys, links) open the database directly,
// or the running server's embedded database through its socket; `ask` and `mcp-config` talk to
// a server at PARLEY_URL with PARLEY_API_KEY, like an agent would.
import { parseArgs } from 'node:util'
import { createApiKey, listApiKeys, revokeApiKey } from './auth/api-keys.ts'
import { relayHook } from './cli/hook.ts'
import { installHooks } from './cli/hook-install.ts'
import { runCommand } from './cli/run.ts'
import { agentApi, KEY_REFUSED, Refused } from './cli/run-instance.ts'
import { ConfigError, loadClientConfig, loadConfig } from './config.ts'
import { withMigratedDb } from './core/admin-db.ts'
import { createLinkCode } from './core/links.ts'
import { createUser, userByEmail } from './core/users.ts'
import { canonicalUuid } from './core/wire.ts'
import { AppError } from './errors.ts'

const USAGE = `usage: parley <command>
  serve                                         start the server (same as bun start)
  migrate                                       apply database migrations
  healthcheck                                   exit 0 if the server on PORT answers /healthz
  users create --email E --password P [--name N]
  keys create --email E --name N [--expires-days D]   prints only the key
  keys list --email E
  keys revoke --id ID
  links code --email E --channel telegram|slack       prints only the one-time code
  ask "question" [--options a,b] [--timeout S]        ask as an agent, print the answer
                                                exit 0 answered, 2 timed out, 1 on an error
  hook [--agent claude-code|codex]              hook adapter: event JSON on stdin, decision on stdout
  hook install [--agent claude-code|codex] [--project|--user] [--write] [--timeout S]
                                                print, or merge into the agent's settings, its hooks
  mcp-config                                    print the claude mcp add line and the -p form
  run [--name N] [--session ID] -- CMD …        run CMD in a terminal streamed to the relay;
                                                exits with CMD's status
Environment: DATABASE_URL / PARLEY_DATA_DIR for admin commands; PARLEY_URL, PARLEY_API_KEY for
ask, hook, mcp-config and run (PARLEY_SESSION_ID: the instance run carries on).`

class UsageError extends Error {}
/** `parley ask` got no answer in time: exit 2, so a script can tell it from an error (1). */
class AskTimedOut extends Error {}
/** The server refused the request for good (bad or revoked key, unknown instance): no retry. */

/** How long one long-poll of `ask` waits; the server ends it at once if the key is revoked meanwhile. */
const ASK_POLL_S = 60

function flags(args: string[], spec: Record<string, 'string' | 'boolean'>) {
  const options = Object.fromEntries(Object.entries(spec).map(([k, type]) => [k, { type }]))
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as {
      values: Record<string, string | boolean | undefined>
      positionals: string[]
    }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name]
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`)
  return v
}

const REQUIRED: Record<string, string[]> = {
  'users create': ['email', 'password'],
  'keys create': ['email', 'name'],
  'keys list': ['email'],
  'keys revoke': ['id'],
  'links code': ['email', 'channel'],
}

async function admin(command: string, sub: string | undefined, rest: string[]): Promise<void> {
  const { values } = flags(rest, {
    email: 'string',
    password: 'string',
    name: 'string',
    id: 'string',
    channel: 'string',
    'expires-days': 'string',
  })
  const key = `${command} ${sub ?? ''}`.trim()
  const required = REQUIRED[key]
  if (!required) throw new UsageError(`unknown command: ${key}`)
  for (const name of required) need(values, name) // before opening any database
  await withMigratedDb(loadConfig(), async (db) => {
    switch (key) {
      case 'users create': {
        const user = await createUser(db, {
          email: need(values, 'email'),
          password: need(values, 'password'),
          displayName: (values.name as string | undefined) ?? null,
        })
        console.log(`created user ${user.email} (${user.id})`)
        return
      }
      case 'keys create': {
        const user = await userByEmail(db, need(values, 'email'))
        const days = values['expires-days'] ? Number(values['expires-days']) : null
        if (days !== null && !(days > 0)) throw new UsageError('--expires-days must be a positive number')
        const expiresAt = days ? new Date(Date.now() + days * 86_400_000) : null
        const { key: raw } = await createApiKey(db, {
          userId: user.id,
          name: need(values, 'name'),
          expiresAt,
        })
        console.log(raw)
        return
      }
      case 'keys list': {
        const user = await userByEmail(db, need(values, 'email'))
        for (const k of await listApiKeys(db, user.id)) {
          const state = k.revokedAt
            ? 'revoked'
            : k.expiresAt && k.expiresAt < new Date()
              ? 'expired'
              : 'active'
          const used = k.lastUsedAt?.toISOString() ?? 'never'
          console.log(
            `${k.id}\t${k.name}\t${k.prefix}…\tcreated ${k.createdAt.toISOString()}\tlast used ${used}\t${state}`,
          )
        }
        return
      }
      case 'keys revoke': {
        const id = canonicalUuid(need(values, 'id'))
        if (!id) throw new UsageError('--id must be a key id (see keys list)')
        await revokeApiKey(db, null, id)
        console.log(`revoked ${id}`)
        return
      }
      case 'links code': {
        const channel = need(values, 'channel')
        if (channel !== 'telegram' && channel !== 'slack')
          throw new UsageError('--channel must be telegram or slack')
        const user = await userByEmail(db, need(values, 'email'))
        console.log(await createLinkCode(db, user.id, channel))
        return
      }
      default:
        throw new UsageError(`unknown command: ${key}`)
    }
  })
}

async function ask(rest: string[]): Promise<void> {
  const { values, positionals } = flags(rest, { options: 'string', timeout: 'string', instance: 'string' })
  const question = positionals.join(' ').trim()
  if (!question) throw new UsageError('ask needs the question text')
  const client = loadClientConfig()
  if (!client.apiKey) throw new UsageError('PARLEY_API_KEY is required')
  const timeout = values.timeout ? Number(values.timeout) : 86_400
  if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds')
  const { apiKey } = client
  const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await agentApi({ url: client.url, apiKey }, init.method ?? 'GET', path, init.body)
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>
    if (res.status === 401) throw new Refused(KEY_REFUSED)
    const detail = `${res.status}: ${(body.detail as string) ?? res.statusText}`
    if (res.status < 500 && !res.ok) throw new Refused(detail)
    if (!res.ok) throw new Error(detail)
    return body
  }
  const instanceId = (values.instance as string | undefined) ?? crypto.randomUUID()
  const options = values.options
    ? String(values.options)
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean)
    : undefined
  const posted = await api('/messages/agent', {
    method: 'POST',
    body: {
      agent_instance_id: instanceId,
      agent_type: 'cli',
      content: question,
      requires_user_input: true,
      options,
      timeout_seconds: Math.ceil(timeout),
    },
  })
  const deadline = Date.now() + timeout * 1000
  while (Date.now() < deadline) {
    const wait = Math.min(ASK_POLL_S, Math.max(1, Math.ceil((deadline - Date.now()) / 1000)))
    const q = `agent_instance_id=${instanceId}&last_read_message_id=${posted.message_id}&wait=${wait}`
    // A server restarting or a network blip is waited out; a refusal ends the wait at once.
    const r = await api(`/messages/pending?${q}`).catch((err) => {
      if (err instanceof Refused) throw err
      return { retry: err }
    })
    if ('retry' in r) {
      await Bun.sleep(1000)
      continue
    }
    if (r.status === 'stale') throw new Error('the question was answered elsewhere (cursor moved on)')
    const first = (r.messages as { content: string }[])[0]
    if (first) {
      console.log(first.content)
      return
    }
  }
  throw new AskTimedOut(`no answer within ${timeout} s`)
}

function mcpConfig(): void {
  const client = loadClientConfig()
  console.log(
    `claude mcp add --transport http parley ${client.url}/mcp --header "Authorization: Bearer ${client.apiKey ?? '<your API key>'}"`,
  )
  // In -p runs nobody sits at the terminal: Claude Code asks Parley's approve tool instead.
  console.log(`claude -p "<your task>" --permission-prompt-tool mcp__parley__approve`)
}

export async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv
  try {
    switch (command) {
      case 'serve':
        await import('./main.ts').then((m) => m.serve())
        // The server runs until SIGTERM or SIGINT, whose handler exits: no exit code from here.
        return await new Promise<number>(() => {})
      case 'migrate': {
        const applied = await withMigratedDb(loadConfig(), async (_db, applied) => applied)
        console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date')
        return 0
      }
      case 'healthcheck': {
        // The container's HEALTHCHECK: its image has no curl, only this executable.
        const port = loadConfig().port
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) })
        if (!res.ok) throw new Error(`/healthz answered ${res.status}`)
        return 0
      }
      case 'users':
      case 'keys':
      case 'links':
        await admin(command, sub, rest)
        return 0
      case 'ask':
        await ask([sub, ...rest].filter((a): a is string => a !== undefined))
        return 0
      case 'hook':
        if (sub === 'install') return installHooks(rest)
        return await relayHook([sub, ...rest].filter((a): a is string => a !== undefined))
      case 'mcp-config':
        mcpConfig()
        return 0
      case 'run':
        return await runCommand([sub, ...rest].filter((a): a is string => a !== undefined))
      case undefined:
      case 'help':
      case '--help':
        console.log(USAGE)
        return command === undefined ? 2 : 0
      default:
        throw new UsageError(`unknown command: ${command}`)
    }
  } catch (err) {
    if (err instanceof UsageError) console.error(`parley: ${err.message}\n\n${USAGE}`)
    else if (err instanceof AppError || err instanceof ConfigError) console.error(`parley: ${err.message}`)
    else console.error(`parley: ${(err as Error).message}`)
    if (err instanceof AskTimedOut) return 2
    return err instanceof UsageError && command !== 'ask' ? 2 : 1
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)))
