// The dashboard's front page until the inbox lists the agents.
import { Layout, type LayoutUser } from './layout.tsx'

export function HomePage(props: { user: LayoutUser; csrfToken: string }) {
  return (
    <Layout title="Inbox" user={props.user} csrfToken={props.csrfToken}>
      <h1>Inbox</h1>
      <p>
        No agents yet. <a href="/start">Connect your first agent</a>.
      </p>
    </Layout>
  )
}
