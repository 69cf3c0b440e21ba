// The compiled `parley` executable, built once into a folder of its own and run from there with
// only the environment given, as a container runs it. Used by the binary test and the bench.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { root } from '../cli/run-cli.ts'

/** Builds with `bun run build`'s script into a new temporary folder; returns the executable's path. */
export async function buildBinary(): Promise<{ path: string; dir: string; ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-dist-'))
  const path = join(dir, 'parley')
  const started = performance.now()
  const proc = Bun.spawn(['bun', join(root, 'scripts', 'build.ts'), path], { stdout: 'pipe', stderr: 'pipe' })
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
  if (code !== 0) throw new Error(`build failed (${code}): ${stderr}`)
  return { path, dir, ms: performance.now() - started }
}

export type BinaryRun = { code: number; stdout: string; stderr: string }

/** A command of the executable (`migrate`, `users create …`), run to its end. */
export async function runBinary(
  path: string,
  args: string[],
  env: Record<string, string>,
): Promise<BinaryRun> {
  const proc = Bun.spawn([path, ...args], { cwd: join(path, '..'), env, stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr }
}

export type BinaryServer = {
  proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>
  base: string
  /** Everything it printed up to listening. */
  output: string
  /** Waits until it has printed `text` (up to 30 s); everything printed so far. */
  waitFor(text: string): Promise<string>
  /** SIGTERM, then its exit code. */
  stop(): Promise<number>
}

/**
 * Starts the executable with no command (it serves) and waits for the line naming its address,
 * so PORT=0 works. Fails with what it printed if it exits first.
 */
export async function startBinary(path: string, env: Record<string, string>): Promise<BinaryServer> {
  const proc = Bun.spawn([path], {
    cwd: join(path, '..'),
    env,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const stderr = new Response(proc.stderr).text()
  const reader = proc.stdout.getReader()
  const decoder = new TextDecoder()
  let output = ''
  for (;;) {
    const port = /listening on http:\/\/[^:\s]+:(\d+)/.exec(output)?.[1]
    if (port) {
      // Keep draining stdout so the child never blocks on a full pipe.
      let printed = output
      void (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read())
          printed += decoder.decode(r.value, { stream: true })
      })()
      return {
        proc,
        base: `http://127.0.0.1:${port}`,
        output,
        waitFor: async (text) => {
          const until = Date.now() + 30_000
          while (!printed.includes(text)) {
            if (Date.now() > until) throw new Error(`parley did not print ${text}:\n${printed}`)
            await Bun.sleep(20)
          }
          return printed
        },
        stop: async () => {
          proc.kill('SIGTERM')
          return proc.exited
        },
      }
    }
    const { value, done } = await reader.read()
    if (done)
      throw new Error(`parley exited (${await proc.exited}) before listening:\n${output}${await stderr}`)
    output += decoder.decode(value, { stream: true })
  }
}
