// The local push service of the web push bench in a process of its own, as a real push service
// would be: `bun bench/push-service.ts N` creates N devices and prints one JSON line (their
// subscriptions and a control URL); GET <control>/received?tag=T lists the pushes received with
// that notification tag and when (absolute ms: performance.timeOrigin + performance.now()).
import { FakePushService } from '../test/fakes/push.ts'

if (import.meta.main) {
  const push = new FakePushService()
  const devices = Array.from({ length: Number(process.argv[2] ?? 100) }, () => push.device().subscription)
  const control = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (req) => {
      const url = new URL(req.url)
      if (url.pathname === '/rejected') return Response.json(push.rejected)
      const tag = url.searchParams.get('tag')
      return Response.json(
        push.received
          .filter((r) => r.payload.tag === tag)
          .map((r) => ({ device: r.device, at: performance.timeOrigin + r.at })),
      )
    },
  })
  console.log(JSON.stringify({ control: `http://127.0.0.1:${control.port}`, devices }))
}
