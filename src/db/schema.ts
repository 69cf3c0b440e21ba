// The Parley data model. Table and column names are public (DESIGN.md): add columns, never rename.
// Every row that belongs to someone carries user_id so every query can be scoped by owner.
import { type AnyColumn, type SQL, sql } from 'drizzle-orm'
import {
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'

/**
 * ASCII punctuation, which search treats as a space: agents write paths, file names and flags
 * (`src/module_3.ts`, `--force`) that Postgres's text parser would otherwise keep as one token,
 * so `module` could not find them. Non-ASCII text is left to the parser as it is. Written as code
 * point ranges, read the same by Postgres regular expressions and JavaScript's; a regular
 * expression because `translate` over 32 characters cost six times as much per message.
 */
export const SEARCH_PUNCTUATION = '!-/:-@[-`{-~'
/**
 * What the search index holds for a message: the words of its text plus one lexeme naming its
 * owner, `u/<user id>`. A search asks for the owner's lexeme together with the words, so the index
 * returns one person's matches instead of everyone's, and finds them no slower when others hold as
 * many messages with the same words. Text never yields such a lexeme: "/" is punctuation there.
 * The index is on this expression; a query must spell it the same to use it (src/core/search.ts).
 */
export const ownedSearchVector = (vector: AnyColumn | SQL, userId: AnyColumn | SQL): SQL =>
  sql`(${vector} || array_to_tsvector(array['u/' || ${userId}::text]))`
/** The owner's lexeme of ownedSearchVector as a tsquery, for a user id or SQL giving one. */
export const ownerQuery = (userId: string | SQL): SQL =>
  typeof userId === 'string'
    ? sql`${`'u/${userId}'`}::tsquery`
    : sql`quote_literal('u/' || ${userId})::tsquery`
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' })

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
const at = (name: string) => timestamp(name, { withTimezone: true })

export const INSTANCE_STATUSES = [
  'ACTIVE',
  'AWAITING_INPUT',
  'COMPLETED',
  'FAILED',
  'KILLED',
  'DISCONNECTED',
  'DELETED',
] as const
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number]

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash'),
  displayName: text('display_name'),
  notificationPrefs: jsonb('notification_prefs').notNull().default({}),
  createdAt: createdAt(),
})

export const webSessions = pgTable(
  'web_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: createdAt(),
    expiresAt: at('expires_at').notNull(),
  },
  (t) => [index('web_sessions_user_idx').on(t.userId)],
)

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    keyHash: text('key_hash').notNull().unique(),
    keyPrefix: text('key_prefix').notNull(),
    createdAt: createdAt(),
    expiresAt: at('expires_at'),
    lastUsedAt: at('last_used_at'),
    revokedAt: at('revoked_at'),
  },
  (t) => [index('api_keys_user_idx').on(t.userId)],
)

export const agentTypes = pgTable(
  'agent_types',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('agent_types_user_name_uq').on(t.userId, t.name)],
)

export const agentInstances = pgTable(
  'agent_instances',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    agentTypeId: uuid('agent_type_id')
      .notNull()
      .references(() => agentTypes.id),
    name: text('name'),
    status: text('status').$type<InstanceStatus>().notNull().default('ACTIVE'),
    startedAt: at('started_at').notNull().defaultNow(),
    endedAt: at('ended_at'),
    lastHeartbeatAt: at('last_heartbeat_at'),
    lastReadMessageId: uuid('last_read_message_id'),
    lastActivityAt: at('last_activity_at').notNull().defaultNow(),
    gitDiff: text('git_diff'),
    metadata: jsonb('metadata'),
  },
  (t) => [
    index('agent_instances_user_activity_idx').on(t.userId, t.lastActivityAt),
    // The dashboard inbox order (waiting first, then latest activity), walked backwards per user.
    index('agent_instances_inbox_idx')
      .on(t.userId, sql`(${t.status} = 'AWAITING_INPUT')`, t.lastActivityAt, t.id)
      .where(sql`${t.status} <> 'DELETED'`),
    check(
      'agent_instances_status_ck',
      sql`${t.status} in ('ACTIVE','AWAITING_INPUT','COMPLETED','FAILED','KILLED','DISCONNECTED','DELETED')`,
    ),
  ],
)

export const messages = pgTable(
  'messages',
  {
    // UUID v7, generated by the app: ordering by id is ordering by time.
    id: uuid('id').primaryKey(),
    instanceId: uuid('instance_id')
      .notNull()
      .references(() => agentInstances.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    sender: text('sender').$type<'AGENT' | 'USER'>().notNull(),
    senderUserId: uuid('sender_user_id'),
    content: text('content').notNull(),
    requiresUserInput: boolean('requires_user_input').notNull().default(false),
    options: jsonb('options').$type<string[]>(),
    answeredAt: at('answered_at'),
    answerMessageId: uuid('answer_message_id'),
    answeredVia: text('answered_via'),
    answeredBy: uuid('answered_by'),
    // Where a USER message came from (web, slack, telegram, api, mcp, cli).
    channel: text('channel'),
    timeoutAt: at('timeout_at'),
    metadata: jsonb('metadata'),
    idempotencyKey: text('idempotency_key'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    // The words of content for search (src/core/search.ts), language-neutral ('simple': lower
    // case, no stemming, no stop words). Stored, so a search that matches many messages reads it
    // instead of parsing every content again; stripped of positions, which ranking by matching
    // messages does not need, to keep it small (about a third of the content's size).
    searchVector: tsvector('search_vector').generatedAlwaysAs(
      (): SQL =>
        sql`strip(to_tsvector('simple'::regconfig, regexp_replace(${messages.content}, ${sql.raw(`'[${SEARCH_PUNCTUATION}]'`)}, ' ', 'g')))`,
    ),
  },
  (t) => [
    index('messages_instance_id_idx').on(t.instanceId, t.id),
    index('messages_owner_search_idx').using('gin', ownedSearchVector(t.searchVector, t.userId)),
    // Unread counts per inbox row as an index-only scan (who sent it is in the index).
    index('messages_instance_unread_idx').on(t.instanceId, t.id, t.senderUserId),
    uniqueIndex('messages_idempotency_uq')
      .on(t.userId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    // Open questions of an instance in id order: an answer finds the ones it closes (those before
    // it) without reading the rest of a long session's messages.
    index('messages_open_questions_idx')
      .on(t.instanceId, t.id)
      .where(sql`${t.requiresUserInput} and ${t.answeredAt} is null`),
    // Questions that will time out, for the sweep that closes them once they have (housekeeping.ts).
    index('messages_timeout_idx')
      .on(t.timeoutAt)
      .where(sql`${t.requiresUserInput} and ${t.answeredAt} is null and ${t.timeoutAt} is not null`),
    check('messages_sender_ck', sql`${t.sender} in ('AGENT','USER')`),
  ],
)

export const channelLinks = pgTable(
  'channel_links',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** A registered chat channel's name ('telegram', 'slack', …). */
    channel: text('channel').notNull(),
    /** Where the channel delivers to, written by the channel when linking (Telegram: the chat id;
     * Slack: "team:user"). Deliveries copy it, so no query needs to know how a channel addresses. */
    target: text('target').notNull(),
    chatId: text('chat_id'),
    teamId: text('team_id'),
    externalUserId: text('external_user_id'),
    active: boolean('active').notNull().default(true),
    lastError: text('last_error'),
    createdAt: createdAt(),
  },
  (t) => [
    index('channel_links_user_idx').on(t.userId),
    index('channel_links_channel_target_idx').on(t.channel, t.target),
  ],
)

export const linkCodes = pgTable('link_codes', {
  codeHash: text('code_hash').primaryKey(),
  userId: uuid('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  channel: text('channel').notNull(),
  createdAt: createdAt(),
  expiresAt: at('expires_at').notNull(),
  usedAt: at('used_at'),
})

export const deliveries = pgTable(
  'deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    instanceId: uuid('instance_id').references(() => agentInstances.id, { onDelete: 'cascade' }),
    channel: text('channel').notNull(),
    target: text('target').notNull(),
    /** question: send a question; lock: edit a sent copy after the answer; progress: the per-instance
     * status message (one row per instance and target, edited in place); webhook: n8n resume call. */
    kind: text('kind').$type<'question' | 'lock' | 'progress' | 'webhook'>().notNull().default('question'),
    externalRef: jsonb('external_ref'),
    state: text('state').$type<'pending' | 'sent' | 'failed' | 'locked'>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: at('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    payload: jsonb('payload'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('deliveries_message_channel_target_uq').on(t.messageId, t.channel, t.target, t.kind),
    uniqueIndex('deliveries_progress_uq')
      .on(t.instanceId, t.channel, t.target)
      .where(sql`${t.kind} = 'progress'`),
    index('deliveries_message_idx').on(t.messageId),
    index('deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.state} = 'pending'`),
  ],
)

export const instanceAccess = pgTable(
  'instance_access',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    instanceId: uuid('instance_id')
      .notNull()
      .references(() => agentInstances.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    email: text('email'),
    access: text('access').$type<'READ' | 'WRITE'>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('instance_access_user_idx').on(t.userId),
    uniqueIndex('instance_access_instance_email_uq').on(t.instanceId, t.email),
  ],
)

// Browsers that receive web push, one row per user and device. Each has a channel link
// ('push', target = this id), so the outbox delivers to it like to any chat.
export const pushSubscriptions = pgTable(
  'push_subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The push service's URL for this browser (unique: a browser subscribes once). */
    endpoint: text('endpoint').notNull().unique(),
    /** The browser's P-256 public key and auth secret (base64url), for RFC 8291 encryption. */
    p256dh: text('p256dh').notNull(),
    auth: text('auth').notNull(),
    /** How the settings page names the device (from its User-Agent). */
    device: text('device').notNull().default(''),
    createdAt: createdAt(),
  },
  (t) => [index('push_subscriptions_user_idx').on(t.userId)],
)

// Process-wide settings that must survive restarts (e.g. the generated session secret).
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
})

// Per-user read position on an instance, for unread counts on the dashboard.
export const instanceReads = pgTable(
  'instance_reads',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    instanceId: uuid('instance_id')
      .notNull()
      .references(() => agentInstances.id, { onDelete: 'cascade' }),
    lastSeenMessageId: uuid('last_seen_message_id'),
    seenAt: at('seen_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.instanceId] })],
)

// Incoming chat updates already handled (Telegram update_id, Slack event ids): retries have one effect.
export const processedUpdates = pgTable(
  'processed_updates',
  {
    source: text('source').notNull(),
    externalId: text('external_id').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.source, t.externalId] })],
)

// Which machine (FLY_MACHINE_ID) holds each open relay agent socket: a viewer reaching another
// machine is replayed there (fly-replay). A machine clears its rows when it starts.
export const relayHolders = pgTable(
  'relay_holders',
  {
    instanceId: uuid('instance_id')
      .primaryKey()
      .references(() => agentInstances.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    machineId: text('machine_id').notNull(),
    connectedAt: at('connected_at').notNull().defaultNow(),
  },
  (t) => [index('relay_holders_machine_idx').on(t.machineId)],
)
