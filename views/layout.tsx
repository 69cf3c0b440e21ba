// The page shell every dashboard page renders into: one stylesheet, htmx 4 and its SSE extension
// from our own /assets (never a CDN), the session's CSRF token for htmx requests, and the nav.
// Text from users and agents is rendered with `safe` everywhere below this shell too.
import type { Children } from '@kitajs/html'
import { THEME_COLOR } from '../src/web/icons.ts'

export type LayoutUser = { email: string; displayName: string | null }

export function CsrfField({ token }: { token: string }) {
  return <input type="hidden" name="_csrf" value={token} />
}

function Nav({ user, csrfToken }: { user?: LayoutUser | null; csrfToken?: string | null }) {
  if (!user || !csrfToken) {
    return (
      <nav class="nav" aria-label="Main">
        <a href="/login">Log in</a>
        <a href="/signup">Sign up</a>
        <a href="/docs">API docs</a>
      </nav>
    )
  }
  return (
    <nav class="nav" aria-label="Main">
      <a href="/">Inbox</a>
      <a href="/settings">Settings</a>
      <a href="/start">Getting started</a>
      <a href="/docs">API docs</a>
      <span class="who" safe>
        {user.displayName || user.email}
      </span>
      <form method="post" action="/logout" class="inline">
        <CsrfField token={csrfToken} />
        <button type="submit" class="link">
          Log out
        </button>
      </form>
    </nav>
  )
}

const pageTitle = (title: string): string => (title ? `${title} · Parley` : 'Parley')

export function Layout(props: {
  /** The page's name, before "· Parley"; empty on the home page (the inbox), which is "Parley". */
  title: string
  user?: LayoutUser | null
  csrfToken?: string | null
  children?: Children
}) {
  const headers = props.csrfToken ? JSON.stringify({ 'X-CSRF-Token': props.csrfToken }) : undefined
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title safe>{pageTitle(props.title)}</title>
        {props.csrfToken ? <meta name="csrf-token" content={props.csrfToken} /> : ''}
        <meta name="theme-color" content={THEME_COLOR} />
        <link rel="manifest" href="/manifest.webmanifest" />
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
        <link rel="apple-touch-icon" href="/apple-touch-icon.png" />
        <link rel="stylesheet" href="/assets/parley.css" />
        {/* Not deferred: a deferred htmx.js starts itself on a timer once it runs, and that timer
            can fire before hx-sse.js has arrived, leaving the page without its live stream.
            Parser-blocking scripts both run before DOMContentLoaded, when htmx starts. */}
        <script src="/assets/htmx.js"></script>
        <script src="/assets/hx-sse.js"></script>
        <script src="/assets/parley.js" defer></script>
      </head>
      <body hx-headers:inherited={headers}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            Parley
          </a>
          <Nav user={props.user} csrfToken={props.csrfToken} />
        </header>
        <main id="main" tabindex="-1">
          {props.children}
        </main>
      </body>
    </html>
  )
}
