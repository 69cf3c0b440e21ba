// The web dashboard: composes the dashboard plugins (assets, accounts, pages). Mounted by
// createApp; every page is server-rendered Kita JSX from views/.
import { html } from '@elysiajs/html'
import { Elysia } from 'elysia'
import { HomePage } from '../../views/home.tsx'
import { webAccounts } from './accounts.ts'
import { webAssets } from './assets.ts'
import type { WebDeps } from './deps.ts'
import { webDocs } from './docs.ts'
import { htmlResponse } from './http.ts'
import { webSession } from './session.ts'
import { webSettings } from './settings.ts'
import { webStart } from './start.ts'

export type { WebDeps } from './deps.ts'

export const webApp = (deps: WebDeps) =>
  new Elysia({ name: 'parley.web' })
    .use(html())
    .use(webAssets)
    .use(webSession(deps))
    .use(webAccounts(deps))
    .use(webSettings(deps))
    .use(webStart(deps))
    .use(webDocs())
    .get('/', ({ user, csrfToken }) => htmlResponse(HomePage({ user, csrfToken })), { auth: true })
