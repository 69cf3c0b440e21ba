// Runs the real Codex CLI offline: its interactive UI in a pseudo-terminal (Bun's built-in one),
// because that is where Codex asks permission and so fires PermissionRequest (`codex exec` never
// asks). A scratch CODEX_HOME holds a config.toml with a model provider at a local fake Responses
// API, everything that would reach outside turned off, and the project trusted.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { root } from '../cli/run-cli.ts'
import { runInTerminal, type TerminalRun } from './terminal.ts'

const TRIPLES: Record<string, string> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
}

/** The native binary from the platform package `bun install` brings, or null when it is absent. */
export function codexBinary(): string | null {
  const key = `${process.platform}-${process.arch}`
  const triple = TRIPLES[key]
  if (!triple) return null
  const path = join(root, 'node_modules', '@openai', `codex-${key}`, 'vendor', triple, 'bin', 'codex')
  return existsSync(path) ? path : null
}

/** A scratch HOME with CODEX_HOME inside, configured for the fake API at `baseUrl`. */
export function codexHome(baseUrl: string, projectDir: string): { home: string; codexHome: string } {
  const home = mkdtempSync(join(tmpdir(), 'parley-codex-home-'))
  const codexHome = join(home, '.codex')
  mkdirSync(codexHome)
  writeFileSync(
    join(codexHome, 'config.toml'),
    `model = "gpt-test"
model_provider = "fake"
approval_policy = "on-request"
sandbox_mode = "workspace-write"
check_for_update_on_startup = false

[model_providers.fake]
name = "fake"
base_url = "${baseUrl}"
wire_api = "responses"
env_key = "FAKE_OPENAI_KEY"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
apps = false
remote_plugin = false

[projects."${projectDir}"]
trust_level = "trusted"
`,
  )
  return { home, codexHome }
}

/** Starts the interactive UI on `prompt`; hooks run without the trust review (automation). */
export function startCodex(opts: {
  binary: string
  projectDir: string
  home: string
  codexHome: string
  prompt: string
  env?: Record<string, string>
}): TerminalRun {
  return runInTerminal([opts.binary, '--no-daemon', '--dangerously-bypass-hook-trust', opts.prompt], {
    cwd: opts.projectDir,
    env: {
      PATH: process.env.PATH!,
      HOME: opts.home,
      LANG: 'C.UTF-8',
      CODEX_HOME: opts.codexHome,
      FAKE_OPENAI_KEY: 'fake',
      // The UI looks up one outside host at start; a dead proxy stops it, the fake stays reachable.
      HTTPS_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: '127.0.0.1,localhost',
      ...opts.env,
    },
  })
}
