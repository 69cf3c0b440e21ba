// The 32 agents of the ingest benchmark in a thread of their own (a Worker): they post as the
// agents of throughHttp do, so the server's JS thread serves requests and nothing else.
// Started by throughHttpFromWorker: told the server's address and key, answers with the rate.
import { postingAgents } from './ingest.ts'

declare const self: Worker

self.onmessage = async (event: MessageEvent<{ base: string; key: string }>) => {
  try {
    postMessage({ perSecond: await postingAgents(event.data.base, event.data.key) })
  } catch (err) {
    postMessage({ error: String(err) })
  }
}
