// Libraries only some deployments use are loaded on first use, not at start: each held megabytes
// of an idle server's memory (bench/binary.ts measures it). Checked in a process of its own, since
// other tests in this one may have loaded them.
import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { root } from './cli/run-cli.ts'

const LAZY = ['@slack/bolt', 'grammy', '@modelcontextprotocol/sdk', 'web-push', '@elysiajs/openapi']

async function loadedPackages(...args: string[]): Promise<string[]> {
  const proc = Bun.spawn(['bun', join(root, 'test/fixtures/loading/loaded-packages.ts'), ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: '' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  if (code !== 0) throw new Error(`loaded-packages exited ${code}: ${err}`)
  return JSON.parse(out.trim().split('\n').at(-1)!)
}

describe('loading on first use', () => {
  test('a started server with no chat bot holds none of Bolt, grammY, the MCP SDK, web-push, the OpenAPI generator', async () => {
    const loaded = await loadedPackages()
    expect(loaded).toContain('elysia')
    expect(loaded.filter((p) => LAZY.includes(p))).toEqual([])
  })

  test('an MCP request and a read of /docs load what they need', async () => {
    const loaded = await loadedPackages('--use')
    expect(loaded).toContain('@modelcontextprotocol/sdk')
    expect(loaded).toContain('@elysiajs/openapi')
  })
})
