// Getting started: the exact commands to connect Claude Code, a script over REST, and an n8n
// workflow to this server, with a fresh key filled in when the person asks for one.
import { CsrfField, Layout, type LayoutUser } from './layout.tsx'
import { SecretOnce } from './secret.tsx'

const KEY_PLACEHOLDER = '<your-api-key>'

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export function startCommands(baseUrl: string, key: string | null) {
  const k = key ?? KEY_PLACEHOLDER
  const body = JSON.stringify({
    agent_type: 'deploy-script',
    content: 'Deploy build 42 to production? [YES/NO]',
    requires_user_input: true,
  })
  return {
    mcp: `claude mcp add --transport http parley ${baseUrl}/mcp --header ${sh(`Authorization: Bearer ${k}`)}`,
    curlAsk: [
      `curl -sS -X POST ${baseUrl}/api/v1/messages/agent \\`,
      `  -H ${sh(`Authorization: Bearer ${k}`)} \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -d ${sh(body)}`,
    ].join('\n'),
    curlWait: [
      `curl -sS "${baseUrl}/api/v1/messages/pending?agent_instance_id=<agent_instance_id>&wait=60" \\`,
      `  -H ${sh(`Authorization: Bearer ${k}`)}`,
    ].join('\n'),
    n8nBody: JSON.stringify(
      {
        agent_type: 'n8n',
        content: 'Approve the invoice run? [YES/NO]',
        requires_user_input: true,
        message_metadata: { webhook_url: '{{ $execution.resumeUrl }}' },
      },
      null,
      2,
    ),
  }
}

function Code({ label, text }: { label: string; text: string }) {
  return (
    <figure>
      <figcaption safe>{label}</figcaption>
      <pre>
        <code safe>{text}</code>
      </pre>
    </figure>
  )
}

export function StartPage(props: {
  user: LayoutUser
  csrfToken: string
  baseUrl: string
  key?: { name: string; key: string } | null
}) {
  const c = startCommands(props.baseUrl, props.key?.key ?? null)
  return (
    <Layout title="Getting started" user={props.user} csrfToken={props.csrfToken}>
      <h1>Getting started</h1>
      <p>
        Agents post their progress and questions to this server, <code safe>{props.baseUrl}</code>, with an
        API key. Answer them here, in Slack or in Telegram.
      </p>
      <h2>1. A key for your agent</h2>
      {props.key ? (
        <div class="card" role="status">
          <p>
            Key “<span safe>{props.key.name}</span>” created and filled in below. It is shown only once.
          </p>
          <SecretOnce id="start-key" label="API key" value={props.key.key} />
        </div>
      ) : (
        <form method="post" action="/start/key" class="row">
          <CsrfField token={props.csrfToken} />
          <button type="submit">Create a key and fill it in below</button>
        </form>
      )}
      <p class="muted">
        Keys are listed and revoked in <a href="/settings#keys">Settings</a>.
      </p>
      <h2>2. Claude Code</h2>
      <p>
        Add Parley as an MCP server; Claude Code then has the log_step, ask_question and end_session tools.
      </p>
      <Code label="In a terminal" text={c.mcp} />
      <h2>3. Any script, over REST</h2>
      <p>
        Ask a question. The answer comes back from <code>/api/v1/messages/pending</code>; with{' '}
        <code>wait</code> it waits up to that many seconds for it instead of polling.
      </p>
      <Code label="Ask" text={c.curlAsk} />
      <Code label="Wait for the answer (use the agent_instance_id from the first answer)" text={c.curlWait} />
      <h2>4. n8n: resume a workflow when a person answers</h2>
      <p>
        Put a Wait node set to “On webhook call” after an HTTP Request node that posts the question below to{' '}
        <code safe>{`${props.baseUrl}/api/v1/messages/agent`}</code> with the header{' '}
        <code safe>{`Authorization: Bearer ${props.key?.key ?? KEY_PLACEHOLDER}`}</code>. Parley calls{' '}
        <code>message_metadata.webhook_url</code> once when the question is answered, with the answer in{' '}
        <code>user_message</code>, and the workflow goes on.
      </p>
      <Code label="HTTP Request body (JSON)" text={c.n8nBody} />
      <p>
        All endpoints are described in the <a href="/docs">API documentation</a>.
      </p>
    </Layout>
  )
}
