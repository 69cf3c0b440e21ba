// Recorded hook payloads (test/fixtures/hooks/) and a client that posts them the way Claude Code's
// HTTP hooks and `parley hook` do, each test on a session of its own.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BusEvent, type EventBus, nextEvent } from '../../src/events/bus.ts'

type Agent = 'claude-code' | 'codex'

export function fixture(agent: Agent, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(import.meta.dir, '../fixtures/hooks', agent, `${name}.json`), 'utf8'))
}

type App = { handle(r: Request): Promise<Response> }

export function hookClient(app: App, key: string, agent: Agent = 'claude-code') {
  const sessionId = crypto.randomUUID()
  // A UUID session id is the instance id.
  const instanceId = sessionId
  const send = async (
    name: string | Record<string, unknown>,
    opts: { change?: Record<string, unknown>; timeout?: number; signal?: AbortSignal; key?: string } = {},
  ) => {
    const payload = typeof name === 'string' ? fixture(agent, name) : name
    const body = { ...payload, session_id: sessionId, ...opts.change }
    const query = opts.timeout === undefined ? '' : `?timeout=${opts.timeout}`
    const res = await app.handle(
      new Request(`http://parley.test/hooks/${agent}${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.key ?? key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: opts.signal,
      }),
    )
    const text = await res.text()
    // biome-ignore lint/suspicious/noExplicitAny: responses are asserted field by field
    let json: any = null
    try {
      json = JSON.parse(text)
    } catch {}
    return { status: res.status, json, text }
  }
  return { sessionId, instanceId, send }
}

/** Resolves with the id of the next question asked on the instance. */
export function nextQuestion(bus: EventBus, instanceId: string, ms = 10_000): Promise<string> {
  const { promise } = nextEvent(bus, { instanceId }, (e) => e.type === 'message.created' && e.question, ms)
  return promise.then((e: BusEvent | null) => {
    if (e?.type !== 'message.created') throw new Error('no question was asked')
    return e.messageId
  })
}
