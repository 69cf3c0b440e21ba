// The dashboard terminal, in the browser: xterm.js (loaded before this script from /assets, as
// the globals Terminal and FitAddon) shows the instance's relayed terminal from
// /relay/view/INSTANCE. It replays, follows live output, says when it is not connected or the
// session ended, reconnects with backoff, and can be hidden. Watching shows the agent's own size;
// once the person types (if they may, and chose to: off by default at phone width) the page
// drives the terminal: it fits the panel to the window and sends that size as RESIZE with the
// keystrokes as INPUT. Merely opening the page never resizes the agent's terminal.
// Bundled for the browser by src/web/assets.ts with the one frame codec.
import type { FitAddon as FitAddonType } from '@xterm/addon-fit'
import type { Terminal as TerminalType } from '@xterm/xterm'
import { RELAY_CLOSE } from '../relay/close-codes.ts'
import {
  decodeFrames,
  encodeFrame,
  type Frame,
  FrameError,
  FrameType,
  RELAY_PROTOCOL,
} from '../relay/frames.ts'
import type { ViewerEvent } from '../relay/hub.ts'

declare const Terminal: typeof TerminalType
declare const FitAddon: { FitAddon: typeof FitAddonType }

const PHONE = '(max-width: 40rem)'
const HIDDEN_KEY = 'parley.terminal.hidden'
/** Attempts in a row that never open before the page gives up (about a minute of backoff). */
const MAX_UNREACHED = 6

function start(panel: HTMLElement) {
  const instanceId = panel.dataset.instance ?? ''
  const screen = panel.querySelector<HTMLElement>('.terminal-screen')!
  const state = panel.querySelector<HTMLElement>('.terminal-state')!
  const toggle = panel.querySelector<HTMLButtonElement>('.terminal-toggle')!
  const typing = panel.querySelector<HTMLInputElement>('input[name="terminal-typing"]')
  if (typing) typing.checked = !window.matchMedia(PHONE).matches

  const term = new Terminal({ cursorBlink: false, scrollback: 5000, fontSize: 13, convertEol: false })
  const fit = new FitAddon.FitAddon()
  term.loadAddon(fit)
  term.open(screen)
  const mayType = () => typing?.checked === true
  term.options.disableStdin = !mayType()

  let socket: WebSocket | null = null
  let retry = 0
  /** Attempts in a row that closed without ever opening. */
  let unreached = 0
  /** The agent's terminal size, as last announced. */
  let agentSize: { rows: number; cols: number } | null = null
  /** Whether this page has typed and so sets the size. */
  let driving = false
  const show = (text: string, kind: string) => {
    state.textContent = text
    state.dataset.state = kind
  }
  const send = (bytes: Uint8Array) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(bytes as Uint8Array<ArrayBuffer>)
  }
  const refit = () => {
    if (panel.classList.contains('hidden')) return
    if (driving && mayType()) {
      fit.fit()
      send(encodeFrame({ type: FrameType.RESIZE, rows: term.rows, cols: term.cols }))
    } else if (agentSize) term.resize(agentSize.cols, agentSize.rows)
    else fit.fit()
  }

  const onEvent = (e: ViewerEvent) => {
    if (e.event === 'agent_connected') show('live', 'live')
    else if (e.event === 'session_ended') show('ended', 'ended')
    else if (e.event === 'error') show(e.message, 'error')
  }

  const connect = () => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const url = `${scheme}://${location.host}/relay/view/${encodeURIComponent(instanceId)}`
    const ws = new WebSocket(url, RELAY_PROTOCOL)
    ws.binaryType = 'arraybuffer'
    socket = ws
    let opened = false
    let malformed = false
    ws.onopen = () => {
      opened = true
      retry = 0
      unreached = 0
      // The replay repaints the screen from scratch.
      term.reset()
      refit()
    }
    ws.onmessage = (m) => {
      if (typeof m.data === 'string') return
      let frames: Frame[]
      try {
        frames = decodeFrames(new Uint8Array(m.data as ArrayBuffer))
      } catch (err) {
        if (!(err instanceof FrameError)) throw err
        // It would come again (a page older than the server?): stop, rather than freeze. A browser
        // may only close with 1000 or 3000-4999, so not with 1008.
        malformed = true
        ws.close(RELAY_CLOSE.NORMAL, `malformed frame: ${err.message}`.slice(0, 120))
        return
      }
      for (const f of frames) {
        if (f.type === FrameType.OUTPUT) term.write(f.data)
        else if (f.type === FrameType.RESIZE) {
          // Lines then wrap as on the agent's screen (unless this page sets the size).
          agentSize = { rows: f.rows, cols: f.cols }
          if (!(driving && mayType())) term.resize(f.cols, f.rows)
        } else if (f.type === FrameType.METADATA) onEvent(f.value as ViewerEvent)
      }
    }
    ws.onclose = (e) => {
      socket = null
      if (!opened) unreached++
      if (malformed) return show('unreadable data from the server (reload the page)', 'error')
      show('not connected', 'closed')
      // A protocol refusal would repeat; anything else (restart, too slow) is worth retrying.
      if (e.code === RELAY_CLOSE.POLICY_VIOLATION || e.code === RELAY_CLOSE.UNSUPPORTED_DATA) return
      // A refused handshake (no longer shared, deleted, logged out) cannot be told from a server
      // that is down: after this many attempts in a row that never opened, stop and say so.
      if (unreached >= MAX_UNREACHED) {
        show('cannot connect (reload the page to try again)', 'closed')
        return
      }
      retry = Math.min(retry + 1, 6)
      setTimeout(connect, 500 * 2 ** retry)
    }
  }

  term.onData((data) => {
    if (!mayType()) return
    if (!driving) {
      driving = true
      refit()
    }
    send(encodeFrame({ type: FrameType.INPUT, data: new TextEncoder().encode(data) }))
  })
  typing?.addEventListener('change', () => {
    term.options.disableStdin = !mayType()
    refit()
    if (mayType()) term.focus()
  })
  const setHidden = (hidden: boolean) => {
    panel.classList.toggle('hidden', hidden)
    toggle.textContent = hidden ? 'Show terminal' : 'Hide terminal'
    toggle.setAttribute('aria-expanded', String(!hidden))
    localStorage.setItem(HIDDEN_KEY, hidden ? '1' : '')
    if (!hidden) refit()
  }
  toggle.addEventListener('click', () => setHidden(!panel.classList.contains('hidden')))
  window.addEventListener('resize', refit)
  setHidden(localStorage.getItem(HIDDEN_KEY) === '1')
  refit()
  connect()
}

const panel = document.getElementById('terminal')
if (panel) start(panel)
