// What makes the dashboard an installable app: the web app manifest, the service worker at the
// site's root (so its scope is the whole dashboard), the page it shows offline, the favicon and
// touch icons; and the open tab's live count of waiting questions (/events/waiting, one small
// JSON state per change through the live hub), which the title and tab notifications follow.
import { Elysia } from 'elysia'
import { renderWithin } from '../../bots/markdown.ts'
import { OfflinePage } from '../../views/errors.tsx'
import { waitingQuestions } from '../core/inbox.ts'
import { instanceLabel, instanceUrl, questionLink } from '../notify/jobs.ts'
import type { WebDeps } from './deps.ts'
import { htmlResponse } from './http.ts'
import { FAVICON_SVG, iconPng, THEME_COLOR } from './icons.ts'
import type { LiveHub } from './live-hub.ts'
import { webSession } from './session.ts'

const SW_PATH = new URL('../../views/sw.js', import.meta.url).pathname

export const MANIFEST = {
  name: 'Parley',
  short_name: 'Parley',
  description: 'Answer your coding agents from anywhere.',
  id: '/',
  start_url: '/',
  scope: '/',
  display: 'standalone',
  background_color: '#fbfbfa',
  theme_color: THEME_COLOR,
  icons: [
    { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
    { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
    { src: '/icons/maskable-192.png', sizes: '192x192', type: 'image/png', purpose: 'maskable' },
    { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
    { src: '/favicon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
  ],
}

const PNG_SIZES = new Set([192, 512])
const cached = (type: string, maxAge = 86_400) => ({
  'content-type': type,
  'cache-control': `public, max-age=${maxAge}`,
})
const png = (bytes: Buffer) => new Response(new Uint8Array(bytes), { headers: cached('image/png') })

export function webAppShell(deps: WebDeps, hub: LiveHub) {
  const { core } = deps
  const state = async (userId: string) => {
    const { count, newest } = await waitingQuestions(core, userId)
    return JSON.stringify({
      count,
      newest: newest && {
        id: newest.id,
        title: instanceLabel(newest.instance),
        body: renderWithin(newest.content, 200, (part) => part.text),
        url: questionLink(instanceUrl('', newest.instance.id), newest.id),
      },
    })
  }
  return new Elysia({ name: 'parley.web.app-shell' })
    .use(webSession(deps))
    .get(
      '/manifest.webmanifest',
      () => new Response(JSON.stringify(MANIFEST), { headers: cached('application/manifest+json', 3600) }),
    )
    .get(
      '/sw.js',
      // Always revalidated, so a new service worker reaches browsers on their next visit.
      () =>
        new Response(Bun.file(SW_PATH), {
          headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' },
        }),
    )
    .get('/offline', () => htmlResponse(OfflinePage()))
    .get('/favicon.svg', () => new Response(FAVICON_SVG, { headers: cached('image/svg+xml') }))
    .get('/favicon.ico', () => png(iconPng(48)))
    .get('/apple-touch-icon.png', () => png(iconPng(180, true)))
    .get('/icons/:file', ({ params, status }) => {
      const m = /^(icon|maskable)-(\d+)\.png$/.exec(params.file)
      if (!m || !PNG_SIZES.has(Number(m[2]))) return status(404, 'Not Found')
      return png(iconPng(Number(m[2]), m[1] === 'maskable'))
    })
    .get(
      '/events/waiting',
      ({ user, request, server }) =>
        hub.open(
          {
            key: `waiting:${user.id}`,
            viewerId: user.id,
            wants: (e) =>
              (e.type === 'message.created' && e.question) ||
              e.type === 'question.answered' ||
              e.type === 'instance.updated',
            render: async () => [{ html: await state(user.id) }],
          },
          { request, server, initial: async () => [{ html: await state(user.id) }] },
        ),
      { auth: true },
    )
}
