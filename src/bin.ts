// Entry of the compiled `parley` executable (`bun run build`): the same commands as src/cli.ts, and
// with none it serves, so a container or `./parley` alone starts the server.
import { main } from './cli.ts'

const args = process.argv.slice(2)
process.exit(await main(args.length > 0 ? args : ['serve']))
