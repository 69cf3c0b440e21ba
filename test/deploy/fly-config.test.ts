// fly.toml and the Dockerfile agree with each other and with Parley: the release command is the
// image's executable running `migrate`, the service reaches the port the image exposes, machines
// stay up, load is counted in connections, and the checks ask paths that answer.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { STOP_LIMIT_MS } from '../../src/main.ts'
import { root } from '../cli/run-cli.ts'
import { call, dbKinds, type TestApp, testApp } from '../helpers.ts'

type Check = { path?: string; type?: string; port?: number; method?: string }
type FlyConfig = {
  kill_timeout?: number | string
  deploy?: { release_command?: string }
  env?: Record<string, string>
  http_service?: {
    internal_port?: number
    force_https?: boolean
    auto_stop_machines?: string | boolean
    min_machines_running?: number
    concurrency?: { type?: string; soft_limit?: number; hard_limit?: number }
    checks?: Check[]
  }
  checks?: Record<string, Check>
  vm?: { memory?: string }[]
}

const fly = Bun.TOML.parse(readFileSync(join(root, 'fly.toml'), 'utf8')) as FlyConfig
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
/** The runtime stage: everything after the last FROM. */
const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)?.[1] ?? '[]') as string[]
const executable = cmd[0] ?? 'no CMD'
const megabytes = (size: string) => {
  const m = /^(\d+)\s*(mb|gb)$/i.exec(size)
  if (!m) throw new Error(`unreadable memory size ${size}`)
  return Number(m[1]) * (m[2]!.toLowerCase() === 'gb' ? 1024 : 1)
}

describe('fly.toml', () => {
  test('the release command migrates with the executable the image runs', () => {
    expect(cmd).toEqual([executable, 'serve'])
    expect(runtime).toContain(`COPY --from=build /out/parley ${executable}`)
    expect(fly.deploy?.release_command).toBe(`${executable} migrate`)
  })

  test('HTTPS to the port the image exposes and Parley listens on', () => {
    expect(fly.http_service?.internal_port).toBe(8787)
    expect(fly.env?.PORT).toBe('8787')
    expect(runtime).toMatch(/^EXPOSE 8787$/m)
    expect(fly.http_service?.force_https).toBe(true)
  })

  test('machines stay up and load is counted in held connections', () => {
    expect(['off', false]).toContain(fly.http_service?.auto_stop_machines ?? 'unset')
    expect(fly.http_service?.min_machines_running).toBeGreaterThanOrEqual(1)
    const c = fly.http_service?.concurrency
    expect(c?.type).toBe('connections')
    // Long-polls and websockets hold a connection each: limits in the thousands, not the tens.
    expect(c?.soft_limit).toBeGreaterThanOrEqual(1000)
    expect(c?.hard_limit).toBeGreaterThan(c?.soft_limit ?? Number.POSITIVE_INFINITY)
  })

  test('a graceful stop gives up before Fly kills the machine (kill_timeout)', () => {
    const killSeconds = Number.parseInt(String(fly.kill_timeout ?? 5), 10)
    expect(STOP_LIMIT_MS).toBeLessThan(killSeconds * 1000)
  })

  test('memory above the measured idle RSS (about 80 MiB) with room for held connections', () => {
    const memory = fly.vm?.[0]?.memory
    expect(memory).toBeDefined()
    expect(megabytes(memory!)).toBeGreaterThanOrEqual(256)
  })

  for (const kind of dbKinds()) {
    describe(`checks ask paths Parley answers (${kind})`, () => {
      let t: TestApp
      beforeAll(async () => {
        t = await testApp(kind)
      })
      afterAll(() => t.close())

      test('readiness /readyz routes traffic; liveness /healthz watches the machine', async () => {
        const routing = fly.http_service?.checks ?? []
        expect(routing.map((c) => c.path)).toContain('/readyz')
        const machine = Object.values(fly.checks ?? {})
        expect(machine.map((c) => [c.type, c.port, c.path])).toContainEqual(['http', 8787, '/healthz'])
        for (const path of ['/readyz', '/healthz']) expect((await call(t.app, 'GET', path)).status).toBe(200)
      })
    })
  }
})

describe('Dockerfile', () => {
  test('compiles with the official Bun image; runs the executable alone, as a non-root user', () => {
    expect(dockerfile).toMatch(/^FROM oven\/bun:[\d.]+ AS build$/m)
    expect(dockerfile).toContain('RUN bun scripts/build.ts /out/parley')
    expect(runtime).not.toContain('node_modules')
    expect(runtime).not.toMatch(/^COPY (?!--from=build)/m)
    const user = /^USER (\S+)$/m.exec(runtime)?.[1]
    expect(user).toBeDefined()
    expect(['root', '0', '0:0']).not.toContain(user!)
    expect(runtime).toMatch(new RegExp(`^HEALTHCHECK .*CMD \\["${executable}", "healthcheck"\\]$`, 'm'))
  })
})
