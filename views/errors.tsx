// Pages for requests the dashboard refuses, so a person sees what happened and that nothing changed.
import { Layout } from './layout.tsx'

export function FormExpiredPage() {
  return (
    <Layout title="Form expired">
      <h1>This form has expired</h1>
      <p>Nothing was changed. Go back, reload the page and try again.</p>
    </Layout>
  )
}

export function NotFoundPage(props: {
  user?: { email: string; displayName: string | null } | null
  csrfToken?: string
}) {
  return (
    <Layout title="Not found" user={props.user} csrfToken={props.csrfToken}>
      <h1>Not found</h1>
      <p>
        There is nothing here, or it is not yours. <a href="/">Back to the inbox</a>.
      </p>
    </Layout>
  )
}

/** What the service worker shows when a page cannot load: no network, not a broken server. */
export function OfflinePage() {
  return (
    <Layout title="Offline">
      <h1>You are offline</h1>
      <p>Parley cannot be reached from this device right now. Check the connection and reload.</p>
    </Layout>
  )
}
