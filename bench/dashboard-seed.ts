// Set-based generation of a big dashboard: one user with N instances over five agent types and M
// messages spread evenly over them, ids UUID v7 in time order like the app writes them, a share
// of them waiting for input, some opened (instance_reads) so unread counts vary. Other people's
// instances and messages can be written alongside, with the same words, their messages
// interleaved in time and on disk with the user's as concurrent writers would leave them. All in
// SQL with generate_series: a million rows take seconds, not the minutes row-by-row inserts would.
import type postgres from 'postgres'

/** Other people sharing the database: each gets `instances` instances and `messages` messages. */
export type OtherUsers = { userIds: string[]; instances: number; messages: number }

export async function seedDashboard(
  sql: postgres.Sql,
  userId: string,
  instances: number,
  messages: number,
  others: OtherUsers = { userIds: [], instances: 0, messages: 0 },
) {
  const people = [
    { userId, instances, perInstance: Math.max(1, Math.floor(messages / instances)) },
    ...others.userIds.map((id) => ({
      userId: id,
      instances: others.instances,
      perInstance: Math.max(1, Math.floor(others.messages / Math.max(1, others.instances))),
    })),
  ]
  const ids = people.map((p) => p.userId)
  // The rows are consistent by construction: skip the per-row foreign-key triggers (superuser only).
  await sql`set session_replication_role = replica`
  await sql`insert into agent_types (user_id, name)
    select u, 'type-' || g from unnest(${ids}::uuid[]) u, generate_series(1, 5) g`
  for (const p of people) {
    await sql`
      insert into agent_instances (id, user_id, agent_type_id, name, status, started_at, last_heartbeat_at, last_activity_at)
      select gen_random_uuid(), ${p.userId}, t.id, 'instance ' || g,
        case when g % 50 = 0 then 'AWAITING_INPUT' when g % 7 = 0 then 'COMPLETED' else 'ACTIVE' end,
        now() - make_interval(secs => g * 10 + 3600),
        now() - make_interval(secs => g * 10),
        now() - make_interval(secs => g * 10)
      from generate_series(1, ${p.instances}) g
      join (select id, row_number() over (order by name) - 1 as n from agent_types where user_id = ${p.userId}) t
        on t.n = g % 5`
  }
  // Message k of an instance is (perInstance - k) * 5 ms before the instance's last activity;
  // everyone's messages are written in one time order.
  await sql`
    insert into messages (id, instance_id, user_id, sender, content, requires_user_input, created_at)
    select
      (lpad(to_hex(ms), 12, '0') || '7' || substr(md5(random()::text), 1, 3) || '8' ||
        substr(md5(random()::text), 1, 15))::uuid,
      i.id, i.user_id,
      case when k % 4 = 0 then 'USER' else 'AGENT' end,
      'Step ' || k || ' of ' || i.name || ': edited src/module_' || (k % 97) || '.ts and ran the tests',
      k = p.per_instance and i.status = 'AWAITING_INPUT',
      to_timestamp(ms / 1000.0)
    from unnest(${ids}::uuid[], ${people.map((p) => p.perInstance)}::int[]) p(user_id, per_instance)
      join lateral (
        select id, user_id, name, status, (extract(epoch from last_activity_at) * 1000)::bigint as last_ms
        from agent_instances where user_id = p.user_id) i on true,
      generate_series(1, p.per_instance) k,
      lateral (select i.last_ms - (p.per_instance - k) * 5 as ms) t
    order by ms`
  // A third of the user's instances were opened halfway through their thread.
  await sql`
    insert into instance_reads (user_id, instance_id, last_seen_message_id)
    select ${userId}, i.id, (select m.id from messages m where m.instance_id = i.id
                             order by m.id offset ${Math.floor(people[0]!.perInstance / 2)} limit 1)
    from agent_instances i where i.user_id = ${userId} and hashtext(i.id::text) % 3 = 0`
  await sql`set session_replication_role = origin`
  // Set the visibility map too, as autovacuum would, so unread counts can be index-only scans.
  await sql`vacuum analyze`
}
