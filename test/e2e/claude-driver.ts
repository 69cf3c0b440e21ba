// Drives the real Claude Code CLI the way an SDK does: stream-json on stdin and stdout, permission
// prompts as control requests on stdout (`--permission-prompt-tool stdio`). It runs offline: a
// scratch HOME with the first-run questions answered, ANTHROPIC_BASE_URL at a local fake, and no
// traffic to anywhere else. The CLI's own permission prompt races the PermissionRequest hook; the
// driver answers it only when a test says so, so a tool that runs unasked was decided by the hook.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { root } from '../cli/run-cli.ts'

/** The native binary from the platform package `bun install` brings, or null when it is absent. */
export function claudeBinary(): string | null {
  const candidates = [
    join(root, 'node_modules', '@anthropic-ai', `claude-code-${process.platform}-${process.arch}`, 'claude'),
    join(root, 'node_modules', '.bin', 'claude'),
  ]
  return candidates.find((p) => existsSync(p)) ?? null
}

// biome-ignore lint/suspicious/noExplicitAny: stream-json messages are read field by field
export type StreamMessage = Record<string, any>

const API_KEY = 'sk-ant-fake-0123456789abcdefghijklmnopqrstuvwxyz'

/** A scratch HOME where the first-run questions (theme, API key, trusting `projectDir`) are answered. */
export function claudeHome(projectDir: string): string {
  const home = mkdtempSync(join(tmpdir(), 'parley-claude-home-'))
  writeFileSync(
    join(home, '.claude.json'),
    JSON.stringify({
      hasCompletedOnboarding: true,
      theme: 'dark',
      customApiKeyResponses: { approved: [API_KEY.slice(-20)], rejected: [] },
      projects: { [projectDir]: { hasTrustDialogAccepted: true } },
    }),
  )
  return home
}

/** The environment that keeps the CLI local: the fake API, and no traffic to anywhere else. */
export function claudeEnv(apiUrl: string, home: string): Record<string, string> {
  return {
    PATH: process.env.PATH!,
    HOME: home,
    LANG: 'C.UTF-8',
    ANTHROPIC_BASE_URL: apiUrl,
    ANTHROPIC_API_KEY: API_KEY,
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    // Without it the interactive UI fetches a plugin marketplace from outside.
    CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL: '1',
  }
}

export class ClaudeSession {
  readonly messages: StreamMessage[] = []
  private waiters: (() => void)[] = []
  private exitCode: Promise<number>

  private constructor(
    private readonly proc: Bun.Subprocess<'pipe', 'pipe', 'pipe'>,
    readonly home: string,
    readonly stderr: Promise<string>,
  ) {
    this.exitCode = proc.exited
    void this.read()
  }

  /** Starts `claude` in `projectDir` against the fake API at `apiUrl`; `env` adds variables (PATH, keys). */
  static start(opts: {
    binary: string
    apiUrl: string
    projectDir: string
    sessionId: string
    env?: Record<string, string>
  }): ClaudeSession {
    const home = claudeHome(opts.projectDir)
    const args = ['-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose']
    const proc = Bun.spawn(
      [opts.binary, ...args, '--permission-prompt-tool', 'stdio', '--session-id', opts.sessionId],
      {
        cwd: opts.projectDir,
        env: { ...claudeEnv(opts.apiUrl, home), TERM: 'dumb', ...opts.env },
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
      },
    )
    return new ClaudeSession(proc, home, new Response(proc.stderr).text())
  }

  private async read() {
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of this.proc.stdout) {
      buffer += decoder.decode(chunk, { stream: true })
      let nl = buffer.indexOf('\n')
      while (nl >= 0) {
        const line = buffer.slice(0, nl).trim()
        buffer = buffer.slice(nl + 1)
        nl = buffer.indexOf('\n')
        if (!line) continue
        const message = JSON.parse(line) as StreamMessage
        this.messages.push(message)
        for (const w of this.waiters.splice(0)) w()
      }
    }
    for (const w of this.waiters.splice(0)) w()
  }

  private write(message: unknown) {
    this.proc.stdin.write(`${JSON.stringify(message)}\n`)
    this.proc.stdin.flush()
  }

  /** Sends the person's prompt, as an SDK does. */
  prompt(text: string) {
    this.write({ type: 'user', message: { role: 'user', content: text } })
  }

  /** Answers a control request (a can_use_tool permission prompt, for instance). */
  answer(requestId: string, response: StreamMessage) {
    this.write({
      type: 'control_response',
      response: { subtype: 'success', request_id: requestId, response },
    })
  }

  /** The first message (from the start) that `match` accepts, waiting up to `ms` for it. */
  async waitFor(match: (m: StreamMessage) => boolean, ms: number, what: string): Promise<StreamMessage> {
    const end = Date.now() + ms
    for (;;) {
      const found = this.messages.find(match)
      if (found) return found
      const left = end - Date.now()
      if (left <= 0 || this.proc.exitCode !== null)
        throw new Error(
          `${what}: not seen within ${ms} ms; stream: ${JSON.stringify(this.messages.map((m) => m.type + (m.subtype ? `/${m.subtype}` : '')))}`,
        )
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** The `result` message that ends the turn after the `n`th prompt (1-based). */
  result(n = 1, ms = 20_000): Promise<StreamMessage> {
    const nth = (m: StreamMessage) => this.messages.filter((x) => x.type === 'result').indexOf(m) === n - 1
    return this.waitFor((m) => m.type === 'result' && nth(m), ms, `result #${n}`)
  }

  /** Ends the session (stdin closed, as an SDK does when done) and waits for the process. */
  async close(): Promise<number> {
    try {
      this.proc.stdin.end()
    } catch {}
    const code = await Promise.race([this.exitCode, Bun.sleep(10_000).then(() => null)])
    if (code === null) {
      this.proc.kill('SIGKILL')
      return this.exitCode
    }
    return code
  }
}
