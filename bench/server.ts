// Parley in a process of its own, so the idle-waiter benchmark can read the server's memory
// without the client's sockets in it. Prints one JSON line {port, pid, key}, then obeys lines
// on stdin: "gc" forces a full garbage collection (answers "gc done"), "stop" stops gracefully.
import { loadConfig } from '../src/config.ts'
import { startParley } from '../src/parley.ts'
import { makeAgentKey } from './lib.ts'

const parley = await startParley(loadConfig({ DATABASE_URL: process.env.DATABASE_URL, PORT: '0' }), {
  quiet: true,
})
const key = await makeAgentKey(parley.database.db)
console.log(JSON.stringify({ port: parley.port, pid: process.pid, key }))

for await (const line of console) {
  if (line.trim() === 'gc') {
    Bun.gc(true)
    console.log('gc done')
  } else if (line.trim() === 'stop') break
}
await parley.stop()
process.exit(0)
