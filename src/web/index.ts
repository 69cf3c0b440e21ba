// The web dashboard: composes the dashboard plugins (assets, accounts, pages). Mounted by
// createApp; every page is server-rendered Kita JSX from views/.
import { html } from '@elysiajs/html'
import { Elysia } from 'elysia'
import { HomePage } from '../../views/home.tsx'
import { webAccounts } from './accounts.ts'
import { webAssets } from './assets.ts'
import type { WebDeps } from './deps.ts'
import { htmlResponse } from './http.ts'
import { webSession } from './session.ts'

export type { WebDeps } from './deps.ts'

export const webApp = (deps: WebDeps) =>
  new Elysia({ name: 'parley.web' })
    .use(html())
    .use(webAssets)
    .use(webSession(deps))
    .use(webAccounts(deps))
    .get('/', ({ user, csrfToken }) => htmlResponse(HomePage({ user, csrfToken })), { auth: true })
