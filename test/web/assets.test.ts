// The dashboard's bundled scripts: a bundle that fails to build is not remembered, so the request
// after the source is fixed gets the script.
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { projectFile } from '../../src/project-files.ts'
import { ASSET_BUNDLES, webAssets } from '../../src/web/assets.ts'

const dir = mkdtempSync(join(tmpdir(), 'parley-assets-'))
afterAll(() => {
  delete ASSET_BUNDLES['broken-then-fixed.js']
  rmSync(dir, { recursive: true, force: true })
})

test('a bundle that failed to build is built again on the next request', async () => {
  const source = join(dir, 'entry.ts')
  writeFileSync(source, 'export const x = (\n')
  ASSET_BUNDLES['broken-then-fixed.js'] = relative(projectFile(''), source)
  const get = () => webAssets.handle(new Request('http://parley.test/assets/broken-then-fixed.js'))
  expect((await get()).status).toBe(500)
  writeFileSync(source, 'console.log("fixed bundle")\n')
  const res = await get()
  expect(res.status).toBe(200)
  expect(await res.text()).toContain('fixed bundle')
})
