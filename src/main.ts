// Process entry: read the config, build and serve Parley (src/parley.ts wires everything), stop
// gracefully on SIGTERM or SIGINT.
import { type Config, ConfigError, loadConfig } from './config.ts'
import { countUsers } from './core/users.ts'
import { startParley } from './parley.ts'

export { type Parley, type ParleyOptions as StartOptions, startParley } from './parley.ts'

/** `bun start` / `parley serve`: run until SIGTERM or SIGINT, then stop gracefully. */
export async function serve(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`parley: invalid configuration: ${err.message}`)
      process.exit(1)
    }
    throw err
  }
  const parley = await startParley(config)
  console.log(`Dashboard: ${parley.url}/`)
  if ((await countUsers(parley.database.db)) === 0) {
    const cli = Bun.isStandaloneExecutable ? process.execPath : 'bun src/cli.ts'
    console.log(
      'No users yet. Create one, then a key for your agents:\n' +
        `  ${cli} users create --email you@example.com --password "a long password"\n` +
        `  ${cli} keys create --email you@example.com --name laptop`,
    )
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, async () => {
      console.log(`${signal}: stopping`)
      await parley.stop()
      process.exit(0)
    })
  }
}

if (import.meta.main) await serve()
