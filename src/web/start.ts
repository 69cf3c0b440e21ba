// /start, the getting-started page: connection instructions with this server's real URL, and a
// button that creates a fresh key and fills it into every command (shown once, in that answer).
import { Elysia } from 'elysia'
import { StartPage } from '../../views/start.tsx'
import { createApiKey } from '../auth/api-keys.ts'
import type { WebDeps } from './deps.ts'
import { htmlResponse } from './http.ts'
import { webSession } from './session.ts'

/** The URL agents should use: PUBLIC_URL when set, else the address this request came to. */
export const baseUrlOf = (publicUrl: string | null, request: Request) =>
  publicUrl ?? new URL(request.url).origin

export function webStart(deps: WebDeps) {
  return new Elysia({ name: 'parley.web.start' })
    .use(webSession(deps))
    .get(
      '/start',
      ({ user, csrfToken, request }) =>
        htmlResponse(StartPage({ user, csrfToken, baseUrl: baseUrlOf(deps.config.publicUrl, request) })),
      { auth: true },
    )
    .post(
      '/start/key',
      async ({ user, csrfToken, request }) => {
        const name = `Getting started ${new Date().toISOString().slice(0, 10)}`
        const { key } = await createApiKey(deps.core.db, { userId: user.id, name })
        return htmlResponse(
          StartPage({
            user,
            csrfToken,
            baseUrl: baseUrlOf(deps.config.publicUrl, request),
            key: { name, key },
          }),
          201,
        )
      },
      { auth: true },
    )
}
