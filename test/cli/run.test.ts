// `parley run` as people use it: small `bash -c` programs run through the real command, against a
// relay that speaks DESIGN.md's contract (binary frames on /relay/agent, key in the Authorization
// header) and records what it gets, in front of the real Parley app for the REST calls. What the
// database is does not matter to the terminal; ending COMPLETED/FAILED is covered per database in
// test/agents/rest.test.ts, so this file runs on PGlite only.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Server, ServerWebSocket } from 'bun'
import { RunInstance } from '../../src/cli/run-instance.ts'
import { decodeFrames, encodeFrame, type Frame, FrameType } from '../../src/relay/frames.ts'
import { makeUser, type TestApp, testApp, until } from '../helpers.ts'
import { cliPath, root, runCli } from './run-cli.ts'

type AgentSocket = {
  authorization: string | null
  sessionId: string | null
  frames: Frame[]
  ws: ServerWebSocket<AgentSocket> | null
  closed: boolean
}

const text = (frames: Frame[]) =>
  frames
    .filter((f) => f.type === FrameType.OUTPUT)
    .map((f) => new TextDecoder().decode(f.data))
    .join('')

/** The relay's agent side as DESIGN.md "Relay" defines it, recording every socket; the rest is Parley. */
class FakeRelay {
  sockets: AgentSocket[] = []
  private server: Server<AgentSocket> | null = null
  port = 0
  /** While set, a session's end (PUT …/status) waits for it; `ending` counts the ends that arrived. */
  holdEnds: Promise<void> | null = null
  ending = 0
  /** What happened, in order: `close <session>` for an agent socket, `end <path>` for a session end. */
  log: string[] = []

  constructor(private readonly app: TestApp['app']) {}

  start(): void {
    this.server = Bun.serve({
      hostname: '127.0.0.1',
      port: this.port,
      fetch: (req, server) => {
        const url = new URL(req.url)
        if (url.pathname !== '/relay/agent') {
          if (req.method === 'PUT') this.log.push(`end ${url.pathname}`)
          if (req.method !== 'PUT' || !this.holdEnds) return this.app.handle(req)
          this.ending++
          return this.holdEnds.then(() => this.app.handle(req))
        }
        const data: AgentSocket = {
          authorization: req.headers.get('authorization'),
          sessionId: url.searchParams.get('session_id'),
          frames: [],
          ws: null,
          closed: false,
        }
        if (server.upgrade(req, { data })) return undefined
        return new Response('upgrade expected', { status: 400 })
      },
      websocket: {
        data: {} as AgentSocket,
        open: (ws) => {
          ws.data.ws = ws
          this.sockets.push(ws.data)
        },
        message: (ws, message) => {
          if (typeof message === 'string') throw new Error('the agent sent a text frame')
          ws.data.frames.push(...decodeFrames(new Uint8Array(message)))
        },
        close: (ws) => {
          this.log.push(`close ${ws.data.sessionId}`)
          ws.data.closed = true
        },
      },
    })
    this.port = this.server.port!
  }

  async stop(): Promise<void> {
    await this.server?.stop(true)
    this.server = null
  }

  get url() {
    return `http://127.0.0.1:${this.port}`
  }

  /** Every OUTPUT byte of every socket for `sessionId`, in order. */
  output(sessionId: string): string {
    return this.sockets
      .filter((s) => s.sessionId === sessionId)
      .map((s) => text(s.frames))
      .join('')
  }

  /** The open socket for `sessionId` once its output contains `marker`. */
  async waitFor(sessionId: string, marker: string): Promise<AgentSocket> {
    let found: AgentSocket | undefined
    await until(
      () => {
        found = this.sockets.find(
          (s) => s.sessionId === sessionId && !s.closed && text(s.frames).includes(marker),
        )
        return found !== undefined
      },
      10_000,
      `output ${JSON.stringify(marker)} on the relay`,
    )
    return found!
  }

  send(socket: AgentSocket, frame: Frame): void {
    socket.ws!.send(encodeFrame(frame) as Uint8Array<ArrayBuffer>)
  }
}

const input = (s: string): Frame => ({ type: FrameType.INPUT, data: new TextEncoder().encode(s) })

describe('parley run', () => {
  let t: TestApp
  let relay: FakeRelay
  let key: string
  let dir: string

  beforeAll(async () => {
    t = await testApp('pglite')
    relay = new FakeRelay(t.app)
    relay.start()
    key = (await makeUser(t.database.db, 'runner')).key
    dir = mkdtempSync(join(tmpdir(), 'parley-run-'))
  }, 60_000)
  afterAll(async () => {
    await relay.stop()
    await t.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const run = (session: string, script: string, extra: string[] = [], stdin?: string) =>
    runCli(['run', '--session', session, ...extra, '--', 'bash', '-c', script], {
      env: { PARLEY_URL: relay.url, PARLEY_API_KEY: key },
      stdin,
    })

  const instance = async (id: string) =>
    (
      await t.database.query<{ status: string; name: string | null; ended: boolean }>(
        'select status, name, ended_at is not null as ended from agent_instances where id = $1',
        [id],
      )
    )[0]

  test('output reaches the relay with the key, metadata and size; exit 0 ends the session COMPLETED', async () => {
    const id = crypto.randomUUID()
    const r = await run(id, 'echo hello from the terminal', ['--name', 'greeter'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('hello from the terminal')
    expect(relay.output(id)).toContain('hello from the terminal')
    const socket = relay.sockets.find((s) => s.sessionId === id)!
    expect(socket.authorization).toBe(`Bearer ${key}`)
    expect(socket.frames[0]).toEqual({
      type: FrameType.METADATA,
      value: { name: 'greeter', cwd: root, command: ['bash', '-c', 'echo hello from the terminal'] },
    })
    expect(socket.frames).toContainEqual({ type: FrameType.RESIZE, rows: 24, cols: 80 })
    expect(await instance(id)).toEqual({ status: 'COMPLETED', name: 'greeter', ended: true })
  }, 20_000)

  test('the terminal is closed before the session is ended, so nothing makes it live again', async () => {
    const id = crypto.randomUUID()
    const r = await run(id, 'echo done')
    expect(r.code).toBe(0)
    const mine = relay.log.filter((e) => e.includes(id))
    expect(mine).toEqual([`close ${id}`, `end /api/v1/agent-instances/${id}/status`])
  }, 20_000)

  test('exit status 3 is parley run`s own, and the session ends FAILED', async () => {
    const id = crypto.randomUUID()
    const r = await run(id, 'echo failing; exit 3')
    expect(r.code).toBe(3)
    expect(await instance(id)).toMatchObject({ status: 'FAILED', ended: true })
  }, 20_000)

  test('a command killed by a signal gives 128 + the signal (SIGKILL: 137)', async () => {
    const id = crypto.randomUUID()
    const r = await run(id, 'kill -KILL $$')
    expect(r.code).toBe(137)
    expect(await instance(id)).toMatchObject({ status: 'FAILED' })
  }, 20_000)

  test('a command that is not there: 127 as from a shell, and the session ends FAILED', async () => {
    const id = crypto.randomUUID()
    const r = await runCli(['run', '--session', id, '--', 'no-such-command-here'], {
      env: { PARLEY_URL: relay.url, PARLEY_API_KEY: key },
    })
    expect(r.code).toBe(127)
    expect(r.stderr).toContain('no-such-command-here')
    expect(await instance(id)).toMatchObject({ status: 'FAILED', name: 'no-such-command-here' })
  }, 20_000)

  test('piped input reaches the program and its end ends the program`s input (cat exits)', async () => {
    const id = crypto.randomUUID()
    const r = await run(id, 'cat; echo after-eof', [], 'hi from the pipe\nno newline')
    expect(r.code).toBe(0)
    expect(relay.output(id)).toContain('after-eof')
    expect(relay.output(id)).toContain('no newline')
  }, 20_000)

  test('input from the relay reaches the program', async () => {
    const id = crypto.randomUUID()
    const done = run(id, 'echo ready; read x; echo got:$x')
    relay.send(await relay.waitFor(id, 'ready'), input('typed remotely\r'))
    const r = await done
    expect(r.code).toBe(0)
    expect(relay.output(id)).toContain('got:typed remotely')
  }, 20_000)

  test('a RESIZE from the relay changes the terminal size the program sees', async () => {
    const id = crypto.randomUUID()
    const done = run(id, 'echo ready; read x; stty size; tput -T xterm cols')
    const socket = await relay.waitFor(id, 'ready')
    relay.send(socket, { type: FrameType.RESIZE, rows: 33, cols: 111 })
    relay.send(socket, input('\r'))
    expect((await done).code).toBe(0)
    expect(relay.output(id)).toMatch(/33 111\r\n111\r\n/)
  }, 20_000)

  /**
   * Runs `echo before; AWAY; AFTER` with the relay stopped from `before` until AWAY has run, and
   * started again then: AWAY's output is produced while nobody listens.
   */
  async function whileAway(id: string, away: string, after: string) {
    const go = join(dir, `${id}.go`)
    const said = join(dir, `${id}.said`)
    const done = run(
      id,
      `echo before; until [ -e ${go} ]; do sleep 0.02; done; ${away}; touch ${said}; ${after}`,
    )
    await relay.waitFor(id, 'before')
    await relay.stop()
    writeFileSync(go, '')
    await until(() => existsSync(said), 10_000, 'output while the relay is away')
    relay.start()
    return { done } // wrapped: an async function returning the run would wait for it to end
  }

  test('the server restarting: run reconnects and delivers the output produced meanwhile', async () => {
    const id = crypto.randomUUID()
    const { done } = await whileAway(id, 'echo while-away', 'read x; echo after:$x')
    const socket = await relay.waitFor(id, 'while-away')
    relay.send(socket, input('back\r'))
    expect((await done).code).toBe(0)
    expect(relay.output(id)).toContain('after:back')
    expect(relay.sockets.filter((s) => s.sessionId === id).length).toBe(2)
    // The new connection says again what the terminal is.
    expect(socket.frames[0]?.type).toBe(FrameType.METADATA)
  }, 30_000)

  test('output over the 1 MiB bound while away: the newest 1 MiB is sent, with a note of what was dropped', async () => {
    const id = crypto.randomUUID()
    const flood = `head -c ${1536 * 1024} /dev/zero | tr '\\0' x; echo; echo last-line`
    const { done } = await whileAway(id, flood, 'read x')
    const socket = await relay.waitFor(id, 'last-line')
    const sent = text(socket.frames)
    // 1.5 MiB of x, "\r\n" and "last-line\r\n" were produced; the first 512 KiB + 13 bytes went.
    const note = `\r\n[parley: ${512 * 1024 + 13} bytes of output dropped while the relay was away or slow]\r\n`
    expect(sent.startsWith(note)).toBe(true)
    expect(sent.length - note.length).toBe(1024 * 1024)
    expect(sent.endsWith('x\r\nlast-line\r\n')).toBe(true)
    relay.send(socket, input('\r'))
    expect((await done).code).toBe(0)
  }, 30_000)

  test('closed as replaced (4000): the command goes on, unstreamed, and run does not reconnect', async () => {
    const id = crypto.randomUUID()
    const go = join(dir, `${id}.go`)
    const done = run(id, `echo ready; until [ -e ${go} ]; do sleep 0.02; done; echo finished`)
    const socket = await relay.waitFor(id, 'ready')
    socket.ws!.close(4000, 'replaced by a newer agent connection')
    await until(() => socket.closed, 10_000, 'the close')
    writeFileSync(go, '')
    const r = await done
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('finished')
    expect(r.stderr).toContain('another parley run took over this session (4000)')
    expect(relay.sockets.filter((s) => s.sessionId === id).length).toBe(1)
  }, 20_000)

  test('heartbeats keep the instance alive while the command runs', async () => {
    const id = crypto.randomUUID()
    const beats = async () =>
      (
        await t.database.query<{ at: string | null }>(
          'select last_heartbeat_at::text as at from agent_instances where id = $1',
          [id],
        )
      )[0]?.at ?? null
    // Every 30 s in use; every 20 ms here.
    const run = new RunInstance(relay.url, key, { id, agentType: 'bash', name: 'beating' }, 20)
    expect(await run.register()).toBe(true)
    const first = await beats()
    run.startBeating()
    await until(async () => (await beats()) !== first, 10_000, 'a heartbeat')
    expect(await run.end(0)).toBeNull()
    expect(await instance(id)).toMatchObject({ status: 'COMPLETED', name: 'beating' })
  }, 20_000)

  test('a refused key stops before the command runs, exit 1', async () => {
    const r = await runCli(['run', '--', 'bash', '-c', `touch ${join(dir, 'ran')}`], {
      env: { PARLEY_URL: relay.url, PARLEY_API_KEY: 'not-a-key' },
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('the API key was refused')
    expect(existsSync(join(dir, 'ran'))).toBe(false)
  }, 20_000)

  test('a deleted instance is refused like a bad key: exit 1 before the command runs', async () => {
    const id = crypto.randomUUID()
    expect(await new RunInstance(relay.url, key, { id, agentType: 'bash', name: 'gone' }).register()).toBe(
      true,
    )
    await t.database.query(`update agent_instances set status = 'DELETED' where id = $1`, [id])
    const marker = join(dir, 'ran-deleted')
    const r = await run(id, `touch ${marker}`)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`the instance ${id} was deleted`)
    expect(existsSync(marker)).toBe(false)
  }, 20_000)

  test('no command is a usage error (exit 2)', async () => {
    const r = await runCli(['run'], { env: { PARLEY_URL: relay.url, PARLEY_API_KEY: key } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('run needs a command')
  })

  describe('from a terminal', () => {
    /** parley run inside a pseudo-terminal of its own, as a person starts it from a shell. */
    function inTerminal(script: string) {
      let seen = ''
      const outer = Bun.spawn(['bash', '-c', script], {
        cwd: root,
        env: {
          PATH: process.env.PATH!,
          HOME: process.env.HOME ?? '/root',
          PARLEY_URL: relay.url,
          PARLEY_API_KEY: key,
        },
        terminal: {
          cols: 90,
          rows: 30,
          data: (_t, d) => {
            seen += new TextDecoder().decode(d)
          },
        },
      })
      return {
        outer,
        seen: () => seen,
        waitFor: (marker: string) =>
          until(() => seen.includes(marker), 10_000, `${JSON.stringify(marker)} on the terminal`),
      }
    }

    test('keys reach the command raw, Ctrl-C interrupts it (130), and the terminal is restored', async () => {
      const id = crypto.randomUUID()
      const tty = join(dir, `${id}.tty`)
      const term = inTerminal(
        `tty > ${tty}; bun ${cliPath} run --session ${id} -- bash -c 'echo ready; read -n 1 k; echo key:$k; sleep 30'; echo status:$?`,
      )
      await term.waitFor('ready')
      const mode = () => Bun.$`stty -a -F ${readFileSync(tty, 'utf8').trim()}`.text()
      expect(await mode()).toContain('-icanon')
      // One key, no Enter: only a raw outer terminal hands it over before a newline.
      term.outer.terminal!.write('z')
      await term.waitFor('key:z')
      let release = () => {}
      relay.holdEnds = new Promise((resolve) => {
        release = resolve
      })
      const ending = relay.ending
      term.outer.terminal!.write('\x03')
      try {
        // The command is gone and parley is still ending the session: the terminal is the
        // person's again already (Bun would restore it only when parley itself exits).
        await until(() => relay.ending > ending, 10_000, 'the session end')
        const restored = await mode()
        expect(restored).toMatch(/[^-]icanon /)
        expect(restored).toMatch(/[^-]echo /)
      } finally {
        relay.holdEnds = null
        release()
      }
      await term.waitFor('status:130')
      await term.outer.exited
      term.outer.terminal!.close()
      expect(await instance(id)).toMatchObject({ status: 'FAILED' })
    }, 20_000)

    test('the local terminal`s size is the command`s, and a local resize reaches both it and the relay', async () => {
      const id = crypto.randomUUID()
      const term = inTerminal(`bun ${cliPath} run --session ${id} -- bash -c 'stty size; read x; stty size'`)
      await term.waitFor('30 90')
      const socket = await relay.waitFor(id, '30 90')
      term.outer.terminal!.resize(100, 40)
      await until(
        () => socket.frames.some((f) => f.type === FrameType.RESIZE && f.rows === 40 && f.cols === 100),
        10_000,
        'RESIZE 40x100 on the relay',
      )
      term.outer.terminal!.write('\r')
      await term.waitFor('40 100')
      await term.outer.exited
      term.outer.terminal!.close()
    }, 20_000)
  })
})
