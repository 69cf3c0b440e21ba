// The web dashboard: composes the dashboard plugins (assets, accounts, pages). Mounted by
// createApp; every page is server-rendered Kita JSX from views/.
import { html } from '@elysiajs/html'
import { Elysia } from 'elysia'
import { webAccounts } from './accounts.ts'
import { webAppShell } from './app-shell.ts'
import { webAssets } from './assets.ts'
import type { WebDeps } from './deps.ts'
import { webDocs } from './docs.ts'
import { webInbox } from './inbox.ts'
import { webInstance } from './instance.ts'
import { webInstanceLive } from './instance-live.ts'
import { LiveHub } from './live-hub.ts'
import { webPush } from './push.ts'
import { webSession } from './session.ts'
import { webSettings } from './settings.ts'
import { webStart } from './start.ts'

export type { WebDeps } from './deps.ts'

export const webApp = (deps: WebDeps) => {
  // One live hub per app: one event-bus subscription shared by every open dashboard.
  const hub = new LiveHub(deps.core, deps.stopping)
  return new Elysia({ name: 'parley.web' })
    .use(html())
    .use(webAssets)
    .use(webSession(deps))
    .use(webAccounts(deps))
    .use(webSettings(deps))
    .use(webPush(deps))
    .use(webAppShell(deps, hub))
    .use(webStart(deps))
    .use(webDocs(deps))
    .use(webInbox(deps, hub))
    .use(webInstance(deps))
    .use(webInstanceLive(deps, hub))
    .onStop(() => hub.close())
}
