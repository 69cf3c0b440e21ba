// Process entry: read the config, set up logging, build and serve Parley (src/parley.ts wires
// everything), stop gracefully on SIGTERM or SIGINT.
import { type Config, ConfigError, configSecrets, loadConfig } from './config.ts'
import { countUsers } from './core/users.ts'
import { configureLog, log } from './log.ts'
import { startParley } from './parley.ts'

export { type Parley, type ParleyOptions as StartOptions, startParley } from './parley.ts'

/**
 * Longest a graceful stop may take before the process exits regardless: under fly.toml's
 * kill_timeout (15 s), after which Fly kills the machine without our last log lines.
 */
export const STOP_LIMIT_MS = 13_000

/** `bun start` / `parley serve`: run until SIGTERM or SIGINT, then stop gracefully. */
export async function serve(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error({ variable: err.variable }, `invalid configuration: ${err.message}`)
      process.exit(1)
    }
    throw err
  }
  configureLog({ level: config.logLevel, secrets: configSecrets(config) })
  const parley = await startParley(config)
  // Start-up leaves garbage (PGlite's wasm and files as read, migrations, bundles) that an idle
  // process would keep resident until enough allocation triggers a collection.
  Bun.gc(true)
  // The executable starts with the JIT reluctant (scripts/build.ts): code that ran only to start
  // was not worth compiling. From here on, code runs per request: the normal policy.
  Bun.unsafe.setJITPolicy(1)
  log.info(`Dashboard: ${parley.url}/`)
  if ((await countUsers(parley.database.db)) === 0) {
    const cli = Bun.isStandaloneExecutable ? process.execPath : 'bun src/cli.ts'
    log.info(
      'No users yet. Create one, then a key for your agents: ' +
        `${cli} users create --email you@example.com --password "a long password"; ` +
        `${cli} keys create --email you@example.com --name laptop`,
    )
  }
  let stopping = false
  const onSignal = async (signal: NodeJS.Signals) => {
    // A second signal while stopping (Ctrl-C twice) means: now.
    if (stopping) process.exit(1)
    stopping = true
    log.info({ signal }, 'stopping')
    // Waiting requests are answered at once (retryable); past this, something hangs: exit anyway.
    setTimeout(() => {
      log.error(`still stopping after ${STOP_LIMIT_MS / 1000} s; exiting`)
      process.exit(1)
    }, STOP_LIMIT_MS).unref()
    try {
      await parley.stop()
      log.info('stopped')
      process.exit(0)
    } catch (err) {
      log.error({ err }, 'stopping failed')
      process.exit(1)
    }
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, onSignal)
}

if (import.meta.main) await serve()
