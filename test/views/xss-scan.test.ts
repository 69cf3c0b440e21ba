// The Kita XSS scanner over every view: any child rendered without `safe` that could carry
// untrusted text (K601 and friends), or a misplaced `safe`, fails the suite.
import { describe, expect, test } from 'bun:test'
import { Glob } from 'bun'

const root = `${import.meta.dir}/../..`

describe('Kita XSS scanner', () => {
  test('reports nothing for views/', () => {
    const views = [...new Glob('views/**/*.tsx').scanSync({ cwd: root })].sort()
    expect(views.length).toBeGreaterThan(5)
    const run = Bun.spawnSync(
      [
        process.execPath,
        '--preload',
        './test/views/typescript5.cjs',
        'node_modules/@kitajs/ts-html-plugin/dist/cli.js',
        '--simplified',
        ...views,
      ],
      { cwd: root, stdout: 'pipe', stderr: 'pipe' },
    )
    const output = `${run.stdout.toString()}${run.stderr.toString()}`
    expect(output).toContain('No XSS vulnerabilities found')
    expect(run.exitCode).toBe(0)
  }, 60_000)
})
