// The only reader of process.env. Validates every variable once and fails fast with one line
// naming the variable, so a misconfigured machine never half-starts.

export type Config = {
  port: number
  databaseUrl: string | null
  dataDir: string
  publicUrl: string | null
  secret: string | null
  telegram: { botToken: string | null; webhookSecret: string | null; apiRoot: string | null }
  slack: {
    botToken: string | null
    signingSecret: string | null
    appToken: string | null
    apiUrl: string | null
  }
  logLevel: 'debug' | 'info' | 'warn' | 'error'
  /** When set, GET /metrics requires it as a Bearer token. */
  metricsToken: string | null
  signup: boolean
  webhookAllow: string[]
  /** VAPID keys for web push (base64url); null: generated once and stored in the database. */
  vapid: { publicKey: string; privateKey: string } | null
  /** On Fly.io (FLY_APP_NAME is set by the platform), the client's address is in Fly-Client-IP. */
  behindFlyProxy: boolean
  /** This machine's id on Fly.io (FLY_MACHINE_ID): relay viewers are replayed to the agent's machine. */
  machineId: string | null
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`)
  }
}

type Env = Record<string, string | undefined>

const opt = (env: Env, name: string): string | null => {
  const v = env[name]?.trim()
  return v ? v : null
}

function url(env: Env, name: string, protocols: string[]): string | null {
  const v = opt(env, name)
  if (v === null) return null
  let parsed: URL
  try {
    parsed = new URL(v)
  } catch {
    throw new ConfigError(name, `not a URL: ${JSON.stringify(v)}`)
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`)
  }
  return v.replace(/\/+$/, '')
}

/** It goes into a response header (fly-replay) on other machines: letters and digits only. */
function machineId(env: Env): string | null {
  const v = opt(env, 'FLY_MACHINE_ID')
  if (v !== null && !/^[A-Za-z0-9]{1,64}$/.test(v))
    throw new ConfigError('FLY_MACHINE_ID', 'must be letters and digits')
  return v
}

export function loadConfig(env: Env = process.env): Config {
  const portText = opt(env, 'PORT') ?? '8787'
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('PORT', `must be an integer between 0 and 65535, got ${JSON.stringify(portText)}`)
  }
  const logLevel = (opt(env, 'LOG_LEVEL') ?? 'info').toLowerCase()
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be debug, info, warn or error, got ${JSON.stringify(logLevel)}`)
  }
  const signup = (opt(env, 'PARLEY_SIGNUP') ?? 'on').toLowerCase()
  if (signup !== 'on' && signup !== 'off') {
    throw new ConfigError('PARLEY_SIGNUP', `must be on or off, got ${JSON.stringify(signup)}`)
  }
  const tgSecret = opt(env, 'TELEGRAM_WEBHOOK_SECRET')
  if (tgSecret !== null && !/^[A-Za-z0-9_-]{1,256}$/.test(tgSecret)) {
    throw new ConfigError(
      'TELEGRAM_WEBHOOK_SECRET',
      'must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram’s rule)',
    )
  }
  const secret = opt(env, 'PARLEY_SECRET')
  if (secret !== null && secret.length < 32) {
    throw new ConfigError('PARLEY_SECRET', 'must be at least 32 characters')
  }
  const slackToken = opt(env, 'SLACK_BOT_TOKEN')
  if (slackToken && !opt(env, 'SLACK_SIGNING_SECRET') && !opt(env, 'SLACK_APP_TOKEN')) {
    throw new ConfigError(
      'SLACK_SIGNING_SECRET',
      'is required with SLACK_BOT_TOKEN (or set SLACK_APP_TOKEN for Socket Mode)',
    )
  }
  const vapid = vapidKeys(env)
  return {
    port,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: opt(env, 'PARLEY_DATA_DIR') ?? './data',
    publicUrl: url(env, 'PUBLIC_URL', ['http:', 'https:']),
    secret,
    telegram: {
      botToken: opt(env, 'TELEGRAM_BOT_TOKEN'),
      webhookSecret: tgSecret,
      apiRoot: url(env, 'TELEGRAM_API_ROOT', ['http:', 'https:']),
    },
    slack: {
      botToken: opt(env, 'SLACK_BOT_TOKEN'),
      signingSecret: opt(env, 'SLACK_SIGNING_SECRET'),
      appToken: opt(env, 'SLACK_APP_TOKEN'),
      apiUrl: url(env, 'SLACK_API_URL', ['http:', 'https:']),
    },
    logLevel: logLevel as Config['logLevel'],
    metricsToken: opt(env, 'PARLEY_METRICS_TOKEN'),
    signup: signup === 'on',
    webhookAllow: (opt(env, 'PARLEY_WEBHOOK_ALLOW') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    behindFlyProxy: opt(env, 'FLY_APP_NAME') !== null,
    machineId: machineId(env),
    vapid,
  }
}

/** The secret values of a configuration, which the logger scrubs from every line. */
export function configSecrets(config: Config): string[] {
  const dbPassword = config.databaseUrl ? decodeURIComponent(new URL(config.databaseUrl).password) : ''
  return [
    config.secret,
    config.metricsToken,
    config.telegram.botToken,
    config.telegram.webhookSecret,
    config.slack.botToken,
    config.slack.signingSecret,
    config.slack.appToken,
    dbPassword,
    config.vapid?.privateKey,
  ].filter((s): s is string => Boolean(s))
}

/** Both VAPID keys or neither: a P-256 public key (65 bytes) and private key (32 bytes), base64url. */
function vapidKeys(env: Env): Config['vapid'] {
  const publicKey = opt(env, 'PARLEY_VAPID_PUBLIC_KEY')
  const privateKey = opt(env, 'PARLEY_VAPID_PRIVATE_KEY')
  if (publicKey === null && privateKey === null) return null
  if (publicKey === null)
    throw new ConfigError('PARLEY_VAPID_PUBLIC_KEY', 'is required with PARLEY_VAPID_PRIVATE_KEY')
  if (privateKey === null)
    throw new ConfigError('PARLEY_VAPID_PRIVATE_KEY', 'is required with PARLEY_VAPID_PUBLIC_KEY')
  const bytes = (v: string) => (/^[A-Za-z0-9_-]+$/.test(v) ? Buffer.from(v, 'base64url').length : -1)
  if (bytes(publicKey) !== 65) {
    throw new ConfigError('PARLEY_VAPID_PUBLIC_KEY', 'must be a base64url P-256 public key (65 bytes)')
  }
  if (bytes(privateKey) !== 32) {
    throw new ConfigError('PARLEY_VAPID_PRIVATE_KEY', 'must be a base64url P-256 private key (32 bytes)')
  }
  return { publicKey, privateKey }
}

/** Settings for the command-line client, which talks to a running server. */
export function loadClientConfig(env: Env = process.env): {
  url: string
  apiKey: string | null
  /** Where Codex keeps its configuration (`parley hook install --agent codex --user`). */
  codexHome: string | null
  /** The instance `parley run` streams to, to carry on an earlier one (else a new one). */
  sessionId: string | null
} {
  return {
    url: url(env, 'PARLEY_URL', ['http:', 'https:']) ?? `http://127.0.0.1:${opt(env, 'PORT') ?? '8787'}`,
    apiKey: opt(env, 'PARLEY_API_KEY'),
    codexHome: opt(env, 'CODEX_HOME'),
    sessionId: opt(env, 'PARLEY_SESSION_ID'),
  }
}
