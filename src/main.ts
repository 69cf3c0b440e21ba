// Process entry: read the config, set up logging, build and serve Parley (src/parley.ts wires
// everything), stop gracefully on SIGTERM or SIGINT.
import { type Config, ConfigError, configSecrets, loadConfig } from './config.ts'
import { countUsers } from './core/users.ts'
import { configureLog, log } from './log.ts'
import { startParley } from './parley.ts'

export { type Parley, type ParleyOptions as StartOptions, startParley } from './parley.ts'

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
  log.info(`Dashboard: ${parley.url}/`)
  if ((await countUsers(parley.database.db)) === 0) {
    log.info(
      'No users yet. Create one, then a key for your agents: ' +
        'bun src/cli.ts users create --email you@example.com --password "a long password"; ' +
        'bun src/cli.ts keys create --email you@example.com --name laptop',
    )
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, async () => {
      log.info({ signal }, 'stopping')
      await parley.stop()
      log.info('stopped')
      process.exit(0)
    })
  }
}

if (import.meta.main) await serve()
