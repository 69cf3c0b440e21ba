// Runs the `parley` command as people do: a separate process, with only the environment given
// (plus PATH), optional stdin, and its exit code, output and duration kept.
import { join } from 'node:path'

export const root = join(import.meta.dir, '..', '..')
export const cliPath = join(root, 'src', 'cli.ts')

export type CliRun = { code: number; stdout: string; stderr: string; ms: number }

export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<CliRun> {
  const started = performance.now()
  const proc = Bun.spawn(['bun', cliPath, ...args], {
    cwd: opts.cwd ?? root,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/root', ...opts.env },
    stdin: opts.stdin === undefined ? 'ignore' : new TextEncoder().encode(opts.stdin),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr, ms: performance.now() - started }
}
