// The settings page: API keys, linked chats with their delivery state, and who gets notified of
// what. Each section is a plain form that posts and redirects back here.
import type { listApiKeys } from '../src/auth/api-keys.ts'
import type { listWebSessions } from '../src/auth/web-sessions.ts'
import type { ChatChannelInfo } from '../src/core/chat-channels.ts'
import type { LinkedChannel } from '../src/core/links.ts'
import type { NotificationPrefs } from '../src/core/notification-prefs.ts'
import type { listPushSubscriptions } from '../src/core/push-subscriptions.ts'
import { ErrorBox, Notice, TextField } from './forms.tsx'
import { CsrfField, Layout, type LayoutUser } from './layout.tsx'
import { SecretOnce, TimeText } from './secret.tsx'

type ApiKeyRow = Awaited<ReturnType<typeof listApiKeys>>[number]
type SessionRow = Awaited<ReturnType<typeof listWebSessions>>[number]
type DeviceRow = Awaited<ReturnType<typeof listPushSubscriptions>>[number]

export type JustCreated =
  | { kind: 'key'; name: string; key: string }
  | { kind: 'code'; channel: 'telegram' | 'slack'; code: string; deepLink: string | null }

export type SettingsProps = {
  user: LayoutUser
  csrfToken: string
  keys: ApiKeyRow[]
  links: LinkedChannel[]
  /** Browsers subscribed to web push. */
  devices?: DeviceRow[]
  prefs: NotificationPrefs
  /** The chat channels with a notification toggle each (every described channel). */
  channels: readonly ChatChannelInfo[]
  sessions: SessionRow[]
  /** The id of the session viewing the page. */
  current: string
  telegramBot: string | null
  notice?: string | null
  error?: string | null
  created?: JustCreated | null
}

function PostButton(props: {
  action: string
  csrfToken: string
  label: string
  danger?: boolean
  name?: string
}) {
  return (
    <form method="post" action={props.action} class="inline">
      <CsrfField token={props.csrfToken} />
      <button type="submit" class={props.danger ? 'danger' : 'secondary'} aria-label={props.name} safe>
        {props.label}
      </button>
    </form>
  )
}

function Created({ created }: { created: JustCreated }) {
  if (created.kind === 'key') {
    return (
      <div class="card" role="status">
        <p>
          <strong>
            New key “<span safe>{created.name}</span>”.
          </strong>{' '}
          Copy it now: it is shown only once.
        </p>
        <SecretOnce id="new-key" label="API key" value={created.key} />
      </div>
    )
  }
  return (
    <div class="card" role="status">
      <SecretOnce
        id="new-code"
        label={`${created.channel === 'telegram' ? 'Telegram' : 'Slack'} link code`}
        value={created.code}
      />
      {created.channel === 'telegram' ? (
        created.deepLink ? (
          <p>
            Open{' '}
            <a href={created.deepLink} safe>
              {created.deepLink}
            </a>{' '}
            on the device with Telegram, or send <code safe>{`/start ${created.code}`}</code> to the bot.
          </p>
        ) : (
          <p>
            Send <code safe>{`/start ${created.code}`}</code> to this server's Telegram bot.
          </p>
        )
      ) : (
        <p>
          In Slack, type <code safe>{`/parley link ${created.code}`}</code>, or send the code to the Parley
          bot in a direct message.
        </p>
      )}
      <p class="muted">The code works once, for 15 minutes.</p>
    </div>
  )
}

function KeysSection(props: SettingsProps) {
  return (
    <section aria-labelledby="keys-h" id="keys">
      <h2 id="keys-h">API keys</h2>
      <p class="muted">
        Agents use a key to post to Parley (MCP and REST). Revoked keys stop working at once.
      </p>
      <form method="post" action="/settings/keys" class="row">
        <CsrfField token={props.csrfToken} />
        <TextField label="Name of the new key" name="name" required maxlength={100} />
        <button type="submit">Create key</button>
      </form>
      {props.keys.length === 0 ? (
        <p>No keys yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {props.keys.map((k) => (
                <tr>
                  <td safe>{k.name}</td>
                  <td>
                    <code safe>{`${k.prefix}…`}</code>
                  </td>
                  <td>
                    <TimeText value={k.createdAt} />
                  </td>
                  <td>
                    <TimeText value={k.lastUsedAt} />
                  </td>
                  <td>
                    {k.revokedAt ? (
                      <span class="badge off">revoked</span>
                    ) : (
                      <PostButton
                        action={`/settings/keys/${k.id}/revoke`}
                        csrfToken={props.csrfToken}
                        label="Revoke"
                        name={`Revoke key ${k.name}`}
                        danger
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}

const linkTarget = (l: LinkedChannel) =>
  l.channel === 'telegram'
    ? `Telegram chat ${l.chatId ?? '?'}`
    : `Slack user ${l.externalUserId ?? '?'} in ${l.teamId ?? '?'}`

function ChannelsSection(props: SettingsProps) {
  return (
    <section aria-labelledby="channels-h" id="channels">
      <h2 id="channels-h">Linked chats</h2>
      {props.links.length === 0 ? (
        <p>No chats linked yet.</p>
      ) : (
        <ul class="stack">
          {props.links.map((l) => (
            <li class="card">
              <strong safe>{linkTarget(l)}</strong>{' '}
              {l.active ? <span class="badge ok">active</span> : <span class="badge off">inactive</span>}
              <div class="muted">
                linked <TimeText value={l.createdAt} />
              </div>
              {l.lastError ? (
                <p>
                  Last delivery error: <span safe>{l.lastError}</span>
                </p>
              ) : (
                ''
              )}
              {l.active ? (
                ''
              ) : (
                <PostButton
                  action={`/settings/links/${l.id}/reactivate`}
                  csrfToken={props.csrfToken}
                  label="Reactivate"
                  name={`Reactivate ${linkTarget(l)}`}
                />
              )}
              <PostButton
                action={`/settings/links/${l.id}/unlink`}
                csrfToken={props.csrfToken}
                label="Unlink"
                name={`Unlink ${linkTarget(l)}`}
                danger
              />
            </li>
          ))}
        </ul>
      )}
      <div class="row">
        <form method="post" action="/settings/links/code" class="inline">
          <CsrfField token={props.csrfToken} />
          <input type="hidden" name="channel" value="telegram" />
          <button type="submit">Link a Telegram chat</button>
        </form>
        <form method="post" action="/settings/links/code" class="inline">
          <CsrfField token={props.csrfToken} />
          <input type="hidden" name="channel" value="slack" />
          <button type="submit">Link a Slack account</button>
        </form>
      </div>
    </section>
  )
}

/**
 * Devices that get web push, and the buttons that subscribe this browser or let this tab show
 * notifications (both run /assets/parley.js: permission is asked only when one is pressed).
 */
function DevicesSection(props: SettingsProps) {
  const devices = props.devices ?? []
  return (
    <section aria-labelledby="devices-h" id="devices">
      <h2 id="devices-h">Devices</h2>
      <p class="muted">Notifications on this phone or computer, with buttons that answer approvals.</p>
      {devices.length === 0 ? (
        <p>No device gets notifications yet.</p>
      ) : (
        <ul class="stack" id="device-list">
          {devices.map((d) => (
            <li class="card" data-endpoint={d.endpoint}>
              <strong safe>{d.device || 'Browser'}</strong>{' '}
              <span class="muted">
                since <TimeText value={d.createdAt} />
              </span>{' '}
              <PostButton
                action={`/settings/push/${d.id}/remove`}
                csrfToken={props.csrfToken}
                label="Remove"
                name={`Remove ${d.device || 'device'}`}
                danger
              />
            </li>
          ))}
        </ul>
      )}
      <div class="row">
        <button type="button" id="push-subscribe" hidden>
          Notify this device
        </button>
        <button type="button" id="tab-notify" class="secondary" hidden>
          Notify me in this tab
        </button>
      </div>
      <p id="push-status" class="muted" role="status"></p>
    </section>
  )
}

function Check(props: { name: string; label: string; checked: boolean }) {
  return (
    <label class="check">
      <input type="checkbox" name={props.name} value="on" checked={props.checked} />{' '}
      <span safe>{props.label}</span>
    </label>
  )
}

/** One toggle per chat channel, named `<kind>_<channel>`, labelled as the channel's adapter says. */
function ChannelChecks(props: {
  kind: 'questions' | 'progress'
  prefs: NotificationPrefs
  channels: readonly ChatChannelInfo[]
}) {
  return (
    <>
      {props.channels.map((c) => (
        <Check
          name={`${props.kind}_${c.channel}`}
          label={c.label}
          checked={props.prefs[props.kind][c.channel] ?? false}
        />
      ))}
    </>
  )
}

function NotificationsSection(props: SettingsProps) {
  const { prefs } = props
  return (
    <section aria-labelledby="notify-h" id="notifications">
      <h2 id="notify-h">Notifications</h2>
      <form method="post" action="/settings/notifications" class="stack">
        <CsrfField token={props.csrfToken} />
        <fieldset>
          <legend>Questions go to</legend>
          <ChannelChecks kind="questions" prefs={prefs} channels={props.channels} />
        </fieldset>
        <fieldset>
          <legend>Progress updates go to</legend>
          <ChannelChecks kind="progress" prefs={prefs} channels={props.channels} />
        </fieldset>
        <fieldset>
          <legend>Quiet hours (UTC; hold back progress, never questions)</legend>
          <div class="row">
            <TextField label="From" name="quiet_start" type="time" value={prefs.quiet?.start ?? ''} />
            <TextField label="Until" name="quiet_end" type="time" value={prefs.quiet?.end ?? ''} />
          </div>
          <p class="hint">Leave both empty for none.</p>
        </fieldset>
        <div>
          <button type="submit">Save notifications</button>
        </div>
      </form>
    </section>
  )
}

function ProfileSection(props: SettingsProps) {
  return (
    <section aria-labelledby="profile-h" id="profile">
      <h2 id="profile-h">Profile</h2>
      <p class="muted">
        Logged in as <span safe>{props.user.email}</span>.
      </p>
      <form method="post" action="/settings/profile" class="row">
        <CsrfField token={props.csrfToken} />
        <TextField
          label="Display name"
          name="display_name"
          value={props.user.displayName ?? ''}
          autocomplete="name"
          maxlength={100}
          hint="Shown to people you share agents with, and on answers you give. Empty: your email."
        />
        <button type="submit">Save name</button>
      </form>
    </section>
  )
}

function SessionsSection(props: SettingsProps) {
  return (
    <section aria-labelledby="sessions-h" id="sessions">
      <h2 id="sessions-h">Logged-in browsers</h2>
      <ul class="stack">
        {props.sessions.map((s) => (
          <li class="card">
            Logged in <TimeText value={s.createdAt} />, until <TimeText value={s.expiresAt} />{' '}
            {s.id === props.current ? (
              <span class="badge ok">this browser</span>
            ) : (
              <PostButton
                action={`/settings/sessions/${s.id}/revoke`}
                csrfToken={props.csrfToken}
                label="Log out"
                name="Log out that browser"
                danger
              />
            )}
          </li>
        ))}
      </ul>
      {props.sessions.length > 1 ? (
        <PostButton
          action="/settings/sessions/revoke-others"
          csrfToken={props.csrfToken}
          label="Log out everywhere else"
          danger
        />
      ) : (
        ''
      )}
    </section>
  )
}

export function SettingsPage(props: SettingsProps) {
  return (
    <Layout title="Settings" user={props.user} csrfToken={props.csrfToken}>
      <h1>Settings</h1>
      <ErrorBox message={props.error} />
      <Notice message={props.notice} />
      {props.created ? <Created created={props.created} /> : ''}
      <KeysSection {...props} />
      <ChannelsSection {...props} />
      <DevicesSection {...props} />
      <NotificationsSection {...props} />
      <ProfileSection {...props} />
      <SessionsSection {...props} />
    </Layout>
  )
}
