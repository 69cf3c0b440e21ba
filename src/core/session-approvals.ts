// "Allow for the rest of the session": what a person allowed for one instance, kept in
// agent_instances.metadata.session_rules so the choice survives restarts and holds on every
// machine. One rule for every way an agent asks (MCP `approve` and the agent hooks): exactly what
// Claude Code's `permission_suggestions` say (its own rule syntax: `Bash(git status:*)`,
// `Edit(./src/**)`, `WebFetch(domain:example.com)`), else exactly this call and nothing more.
// A prefix or pattern never covers a compound shell command (`;`, `&&`, `|`, `$(` …), which could
// run anything after the allowed part. What is not understood covers nothing: the person is asked.
import { posix } from 'node:path'
import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { agentInstances } from '../db/schema.ts'

/**
 * One remembered permission. `rule`: Claude Code's rule content for the tool (none: every use of
 * it, as its rule `Bash` means); `exact`: exactly this call (a Bash command, else the input JSON).
 */
export type SessionRule = { tool: string; rule?: string; exact?: string }

/** Where a call runs, for relative path rules. */
export type CallContext = { cwd?: string | null }

const str = (v: unknown): string => (typeof v === 'string' ? v : '')

/** JSON with keys sorted, so the same input always reads the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

const exactly = (tool: string, input: Record<string, unknown>): string =>
  tool === 'Bash' ? str(input.command).trim() : canonical(input)

/** Shell syntax that runs or feeds more than one command: no prefix rule covers it. */
export function isCompoundCommand(command: string): boolean {
  return /[;&|`<>\n\r]|\$\(/.test(command)
}

/**
 * What "Allow for this session" remembers for a call: the allow rules among the suggestions
 * (Claude Code's `addRules` entries), else this exact call.
 */
export function sessionRules(
  tool: string,
  input: Record<string, unknown>,
  suggestions: unknown[] | null,
): SessionRule[] {
  const rules: SessionRule[] = []
  for (const s of suggestions ?? []) {
    const { type, behavior, rules: listed } = (s ?? {}) as Record<string, unknown>
    if (type !== 'addRules' || behavior !== 'allow' || !Array.isArray(listed)) continue
    for (const r of listed) {
      const { toolName, ruleContent } = (r ?? {}) as Record<string, unknown>
      if (typeof toolName !== 'string' || !toolName) continue
      if (ruleContent === undefined || ruleContent === null) rules.push({ tool: toolName })
      else if (typeof ruleContent === 'string' && ruleContent.trim())
        rules.push({ tool: toolName, rule: ruleContent.trim() })
    }
  }
  return rules.length > 0 ? rules : [{ tool, exact: exactly(tool, input) }]
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Claude Code's Bash rule content: `prefix:*`, a `*` wildcard pattern, or an exact command. */
function bashRuleCovers(rule: string, command: string): boolean {
  if (rule.endsWith(':*')) {
    const prefix = rule.slice(0, -2).trim()
    return prefix !== '' && (command === prefix || command.startsWith(`${prefix} `))
  }
  if (!rule.includes('*')) return command === rule
  // `*` matches anything; a single trailing ` *` may match nothing (`ls *` covers `ls`).
  const stars = rule.split('*').length - 1
  const optionalTail = stars === 1 && rule.endsWith(' *')
  const body = optionalTail ? rule.slice(0, -2) : rule
  const pattern = body.split('*').map(escapeRegex).join('.*')
  return new RegExp(`^${pattern}${optionalTail ? '(?: .*)?' : ''}$`, 's').test(command)
}

const FILE_TOOLS = new Set(['Read', 'Edit', 'MultiEdit', 'Write', 'NotebookEdit'])

/**
 * A path rule (gitignore style): `//abs/**` absolute, `./x` or `x` under the working directory.
 * `/x` (relative to a settings file) and `~/x` cannot be placed here and cover nothing.
 */
function pathRuleCovers(rule: string, path: string, cwd: string | null | undefined): boolean {
  let base: string
  if (rule.startsWith('//')) base = rule.slice(1)
  else if (rule.startsWith('/') || rule.startsWith('~')) return false
  else if (!cwd?.startsWith('/')) return false
  else base = posix.join(cwd, rule)
  const target = path.startsWith('/') ? posix.normalize(path) : cwd ? posix.join(cwd, path) : ''
  if (!target) return false
  const pattern = base
    .split(/(\*\*\/|\*\*|\*)/)
    .map((part) =>
      part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : escapeRegex(part),
    )
    .join('')
  return new RegExp(`^${pattern}$`, 's').test(target)
}

/** Whether one remembered rule covers this call. */
export function ruleCovers(
  r: SessionRule,
  tool: string,
  input: Record<string, unknown>,
  ctx: CallContext = {},
): boolean {
  if (r.tool !== tool) return false
  if (r.exact !== undefined) return r.exact === exactly(tool, input)
  if (tool === 'Bash') {
    const command = str(input.command).trim()
    if (!command || isCompoundCommand(command)) return false
    return r.rule === undefined || r.rule === '*' || bashRuleCovers(r.rule, command)
  }
  if (r.rule === undefined) return true
  if (tool === 'WebFetch' && r.rule.startsWith('domain:')) {
    try {
      return new URL(str(input.url)).hostname.toLowerCase() === r.rule.slice(7).trim().toLowerCase()
    } catch {
      return false
    }
  }
  if (FILE_TOOLS.has(tool)) {
    const path = str(input.file_path) || str(input.notebook_path) || str(input.path)
    return path !== '' && pathRuleCovers(r.rule, path, ctx.cwd)
  }
  return false
}

/** How a rule reads to a person: `Bash(git status:*)`, "this exact command". */
export function ruleLabel(r: SessionRule): string {
  if (r.exact !== undefined) return r.tool === 'Bash' ? 'this exact command' : `this exact ${r.tool} call`
  return r.rule === undefined ? `every ${r.tool} call` : `${r.tool}(${r.rule})`
}

/** What the owner allowed for the rest of this instance's session (empty when not theirs). */
export async function sessionApprovals(db: Db, instanceId: string, userId: string): Promise<SessionRule[]> {
  const [row] = await db
    .select({ metadata: agentInstances.metadata })
    .from(agentInstances)
    .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
  const kept = (row?.metadata as { session_rules?: unknown } | null)?.session_rules
  return Array.isArray(kept) ? (kept as SessionRule[]) : []
}

/** Whether the owner already allowed this call for the session: one check for hooks and MCP. */
export async function allowedForSession(
  db: Db,
  instanceId: string,
  userId: string,
  call: { tool: string; input: Record<string, unknown> } & CallContext,
): Promise<boolean> {
  const rules = await sessionApprovals(db, instanceId, userId)
  return rules.some((r) => ruleCovers(r, call.tool, call.input, call))
}

/** Remembers rules for the rest of the session. */
export async function rememberApprovals(db: Db, instanceId: string, rules: SessionRule[]): Promise<void> {
  if (rules.length === 0) return
  await db
    .update(agentInstances)
    .set({
      metadata: sql`jsonb_set(coalesce(${agentInstances.metadata}, '{}'::jsonb), '{session_rules}',
        coalesce(${agentInstances.metadata}->'session_rules', '[]'::jsonb) || ${JSON.stringify(rules)}::jsonb)`,
    })
    .where(eq(agentInstances.id, instanceId))
}
