// Request schemas of the agent REST API, in Omnara's field names. Unknown fields are ignored.
import { t } from 'elysia'
import { MAX_CONTENT_CHARS } from '../core/context.ts'

const optional = <T extends Parameters<typeof t.Nullable>[0]>(schema: T) => t.Optional(t.Nullable(schema))
const content = t.String({ maxLength: MAX_CONTENT_CHARS })

export const agentMessageBody = t.Object({
  agent_instance_id: optional(t.String()),
  content,
  agent_type: optional(t.String({ maxLength: 100 })),
  requires_user_input: optional(t.Boolean()),
  send_email: optional(t.Boolean()),
  send_sms: optional(t.Boolean()),
  send_push: optional(t.Boolean()),
  git_diff: optional(t.String()),
  message_metadata: optional(t.Record(t.String(), t.Unknown())),
  options: optional(t.Array(t.String({ minLength: 1, maxLength: 200 }), { maxItems: 20 })),
  timeout_seconds: optional(t.Integer({ minimum: 1, maximum: 7 * 86_400 })),
})

export const pendingQuery = t.Object({
  agent_instance_id: t.String(),
  last_read_message_id: t.Optional(t.String()),
  wait: t.Optional(t.String()),
})

export const userMessageBody = t.Object({
  agent_instance_id: t.String(),
  content,
  mark_as_read: t.Optional(t.Boolean()),
})

export const instanceIdBody = t.Object({ agent_instance_id: t.String() })

export const registerBody = t.Object({
  agent_type: t.String({ maxLength: 100 }),
  agent_instance_id: optional(t.String()),
  name: optional(t.String({ maxLength: 200 })),
  transport: optional(t.String({ maxLength: 50 })),
})

export const statusBody = t.Object({ status: t.String() })
