// `parley` on PATH from a checkout, as the README says: `bun link` puts package.json's `bin` (an
// executable src/cli.ts with a bun shebang) in Bun's global bin directory.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliPath, root } from './run-cli.ts'

describe('parley on PATH', () => {
  const dirs: string[] = []
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  test('src/cli.ts runs by itself: executable, with a bun shebang, and it is the package bin', () => {
    expect(statSync(cliPath).mode & 0o111).toBe(0o111)
    expect(readFileSync(cliPath, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env bun')
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin).toEqual({ parley: 'src/cli.ts' })
  })

  test('bun link, then `parley` runs from any directory', async () => {
    const bunHome = mkdtempSync(join(tmpdir(), 'parley-bun-home-'))
    const elsewhere = mkdtempSync(join(tmpdir(), 'parley-elsewhere-'))
    dirs.push(bunHome, elsewhere)
    const env = { PATH: process.env.PATH!, HOME: bunHome, BUN_INSTALL: bunHome }
    const link = Bun.spawnSync(['bun', 'link'], { cwd: root, env, stdout: 'pipe', stderr: 'pipe' })
    expect(link.exitCode).toBe(0)
    const run = Bun.spawnSync(['parley', 'help'], {
      cwd: elsewhere,
      env: { ...env, PATH: `${join(bunHome, 'bin')}:${process.env.PATH}` },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    expect(run.stderr.toString()).toBe('')
    expect(run.exitCode).toBe(0)
    expect(run.stdout.toString()).toContain('hook install')
  }, 30_000)
})
