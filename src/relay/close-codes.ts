// Every close code the relay sends, in one place: `parley run`, the dashboard's terminal and the
// docs (docs/relay.md) read them from here. 1xxx are the standard meanings; 4xxx are the relay's.
export const RELAY_CLOSE = {
  /** The agent ended its socket, or the server closed a viewer for a reason given in the text. */
  NORMAL: 1000,
  /** The server is stopping: reconnect (with backoff) to another or the restarted server. */
  GOING_AWAY: 1001,
  /** A text message: the relay speaks binary frames only. */
  UNSUPPORTED_DATA: 1003,
  /** A malformed frame, an oversized frame, or a frame type this side may not send. */
  POLICY_VIOLATION: 1008,
  /** Agent: a newer agent socket for the same instance took over; do not reconnect. */
  REPLACED: 4000,
  /** Agent: the API key was revoked (or expired) while the socket was open. */
  KEY_REVOKED: 4001,
  /** Viewer: it read too slowly and its buffer went over the bound; reconnect to get the replay. */
  TOO_SLOW: 4002,
} as const

export type RelayCloseCode = (typeof RELAY_CLOSE)[keyof typeof RELAY_CLOSE]
