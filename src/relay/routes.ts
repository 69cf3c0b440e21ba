// The relay's websockets. /relay/agent?session_id=INSTANCE carries an agent's terminal (API key
// in Authorization, or the subprotocol `parley-key.<key>` for clients that cannot set headers,
// beside `parley.v1`, the only subprotocol the server echoes);
// /relay/view/INSTANCE lets the owner and the people it is shared with watch it (session cookie,
// same-site Origin only), and type into it with WRITE access. Every check runs before the upgrade,
// so a refused socket gets an honest HTTP status and a JSON error; after the upgrade the hub
// (hub.ts) does the relaying, and close codes (close-codes.ts) say why a socket ended.
// On Fly (FLY_MACHINE_ID set) each agent socket's machine is recorded, and a viewer arriving at
// another machine is answered, without upgrading, with `fly-replay: instance=<holder>`.
import { Elysia } from 'elysia'
import { authenticate, bearerToken, requestAddress } from '../agents/auth.ts'
import type { KeyVerifier } from '../auth/api-keys.ts'
import type { Config } from '../config.ts'
import type { Core } from '../core/context.ts'
import { holdPresence } from '../core/presence.ts'
import { holdRelay, openRelaySession, relayHolder, releaseRelay } from '../core/relay-sessions.ts'
import { viewInstance } from '../core/thread.ts'
import { canonicalUuid } from '../core/wire.ts'
import { Forbidden, InvalidInput, Unauthorized, Unavailable } from '../errors.ts'
import { errorResponse } from '../http/errors.ts'
import { logError } from '../log.ts'
import { countWebSocket } from '../metrics.ts'
import { crossSite } from '../web/http.ts'
import { sessionOf } from '../web/session.ts'
import { RELAY_CLOSE } from './close-codes.ts'
import { RELAY_PROTOCOL } from './frames.ts'
import { RelayHub, type RelayOptions, type RelayPeer } from './hub.ts'

const logRelay = logError('relay')
/** Each open viewer's release of its place in the websocket gauge. */
const viewerCounts = new WeakMap<object, () => void>()

export const KEY_SUBPROTOCOL_PREFIX = 'parley-key.'

export type RelayDeps = {
  config: Config
  core: Core
  keys: KeyVerifier
  stopping: AbortSignal
  relay?: Partial<RelayOptions>
}

const offeredProtocols = (request: Request) =>
  (request.headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim())

/** The key an agent socket offers: in Authorization, or as the subprotocol `parley-key.<key>`. */
function offeredKey(request: Request): string | null {
  const header = bearerToken(request.headers.get('authorization'))
  if (header) return header
  const protocol = offeredProtocols(request).find((p) => p.startsWith(KEY_SUBPROTOCOL_PREFIX))
  return protocol?.slice(KEY_SUBPROTOCOL_PREFIX.length) || null
}

/**
 * Answers with RELAY_PROTOCOL when the client offered it. Nothing else is ever echoed: the key a
 * client may offer as a subprotocol must not come back in a response header (logs, proxies).
 */
function echoProtocol(request: Request, headers: Record<string, unknown>): void {
  // Without a value here Bun would echo the first subprotocol offered, whatever it is.
  headers['sec-websocket-protocol'] = offeredProtocols(request).includes(RELAY_PROTOCOL) ? RELAY_PROTOCOL : ''
}

function instanceParam(raw: string | undefined, field: string): string {
  const id = canonicalUuid(raw ?? '')
  if (!id) throw new InvalidInput(field, `${field} must be an instance id (a UUID)`)
  return id
}

/**
 * The relay's view of a socket: Bun's own ServerWebSocket. Elysia types `ws.raw` with its copy of
 * that interface, which lacks getBufferedAmount (Bun has it); the object is Bun's.
 */
const peerOf = (ws: { raw: unknown }): RelayPeer => ws.raw as Bun.ServerWebSocket<unknown>

/** What one open socket holds until it closes (a presence hold, a key watch, its holder record). */
type Held = { release: (() => void)[]; recorded?: Promise<void> }
const releaseAll = (held: Held) => {
  for (const r of held.release.splice(0)) r()
}

export function relayRoutes(deps: RelayDeps) {
  const { core, keys, config } = deps
  const machineId = config.machineId

  /** The other machine holding the agent socket, if any (never for a request already replayed). */
  const elsewhere = async (request: Request, instanceId: string): Promise<string | null> => {
    if (!machineId || request.headers.has('fly-replay-src')) return null
    const holder = await relayHolder(core, instanceId)
    return holder && holder !== machineId ? holder : null
  }
  const hub = new RelayHub(deps.relay)
  // Access is checked at open; when the instance changes (shared differently, deleted) each open
  // viewer is checked again, and one whose access shrank is closed GOING_AWAY: it reconnects and
  // the handshake checks it afresh.
  const recheckViewers = async (instanceId: string) => {
    for (const [peer, viewer] of hub.viewersOf(instanceId)) {
      const access = await viewInstance(core.db, viewer.userId, instanceId).then(
        (inst) => inst.access,
        () => null,
      )
      if (!access || viewer.canWrite !== (access !== 'READ')) {
        peer.close(RELAY_CLOSE.GOING_AWAY, 'access changed; reconnect')
      }
    }
  }
  const unsubscribe = core.bus.subscribe('all', (e) => {
    if (e.type === 'instance.updated' && hub.viewersOf(e.instanceId).length > 0) {
      recheckViewers(e.instanceId).catch((err) => logRelay('checking viewers again failed', err))
    } else if (e.type === 'relay.agent' && e.machineId !== machineId) {
      // The agent came back on another machine: this one's viewers reconnect, and are replayed there.
      for (const [peer] of hub.viewersOf(e.instanceId)) {
        peer.close(RELAY_CLOSE.GOING_AWAY, 'the terminal is on another machine; reconnect')
      }
    }
  })
  deps.stopping.addEventListener(
    'abort',
    () => {
      unsubscribe()
      hub.closeAll()
    },
    { once: true },
  )

  const agent = new Elysia({ name: 'parley.relay.agent' })
    .resolve(async ({ request, query, set, server }) => {
      const key = offeredKey(request)
      if (!key) throw new Unauthorized('Not authenticated')
      // As every agent route: a bad key counts against the address, which is slowed down (429).
      const principal = await authenticate(keys, `Bearer ${key}`, requestAddress(request, server, config))
      const instanceId = instanceParam(query.session_id, 'session_id')
      await openRelaySession(core, principal.userId, instanceId)
      echoProtocol(request, set.headers)
      return { relayAgent: { principal, instanceId, held: { release: [] } as Held } }
    })
    .ws('/relay/agent', {
      open(ws) {
        const { principal, instanceId, held } = ws.data.relayAgent
        const peer = peerOf(ws)
        hub.attachAgent(instanceId, peer)
        held.release.push(countWebSocket('relay_agent'))
        // An open terminal is a sign of life; a revoked or expired key ends it at once.
        held.release.push(holdPresence(core, principal.userId, instanceId))
        const watch = keys.holdWhileValid(principal)
        const revoked = () => peer.close(RELAY_CLOSE.KEY_REVOKED, 'API key revoked or expired')
        watch.signal.addEventListener('abort', revoked, { once: true })
        held.release.push(() => {
          watch.signal.removeEventListener('abort', revoked)
          watch.release()
        })
        if (machineId) {
          const holder = { userId: principal.userId, instanceId, machineId }
          // Recorded first, so a viewer reconnecting on the news is replayed to this machine.
          held.recorded = holdRelay(core, holder)
            .then(() => core.bus.publish({ type: 'relay.agent', ...holder }))
            .catch((err) => logRelay('recording the holder failed', err))
        }
      },
      message(ws, message) {
        hub.fromAgent(ws.data.relayAgent.instanceId, peerOf(ws), message)
      },
      close(ws) {
        const { instanceId, held } = ws.data.relayAgent
        const wasCurrent = hub.detachAgent(instanceId, peerOf(ws))
        releaseAll(held)
        if (wasCurrent && machineId) {
          // After the record is written, so a socket that closes at once leaves none behind.
          void Promise.resolve(held.recorded)
            .then(() => releaseRelay(core, instanceId, machineId))
            .catch((err) => logRelay('clearing the holder failed', err))
        }
      },
    })

  const viewer = new Elysia({ name: 'parley.relay.viewer' })
    .resolve(async ({ request, params, set }) => {
      // A page on another site must not open a socket with this visitor's cookie.
      if (crossSite(request, config.publicUrl)) throw new Forbidden('Cross-site connection refused')
      const found = await sessionOf(core.db, request)
      if (!found) throw new Unauthorized('Log in to watch this terminal')
      const instanceId = instanceParam((params as { id?: string }).id, 'id')
      const inst = await viewInstance(core.db, found.user.id, instanceId)
      echoProtocol(request, set.headers)
      return {
        relayViewer: { instanceId, userId: found.user.id, canWrite: inst.access !== 'READ' },
        holder: await elsewhere(request, instanceId),
      }
    })
    // The agent's socket is on another machine: Fly's proxy replays this request there.
    .onBeforeHandle(({ holder }) => {
      if (!holder) return
      const res = errorResponse(new Unavailable('The terminal is held by another machine'))
      res.headers.set('fly-replay', `instance=${holder}`)
      return res
    })
    .ws('/relay/view/:id', {
      open(ws) {
        const { instanceId, userId, canWrite } = ws.data.relayViewer
        hub.attachViewer(instanceId, peerOf(ws), { userId, canWrite })
        viewerCounts.set(ws.data.relayViewer, countWebSocket('relay_viewer'))
      },
      message(ws, message) {
        hub.fromViewer(ws.data.relayViewer.instanceId, peerOf(ws), message)
      },
      close(ws) {
        hub.detachViewer(ws.data.relayViewer.instanceId, peerOf(ws))
        viewerCounts.get(ws.data.relayViewer)?.()
      },
    })

  return new Elysia({ name: 'parley.relay' }).use(agent).use(viewer)
}
