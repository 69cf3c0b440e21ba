-- The indexes 0008 and 0009 replace, dropped in a migration of their own: a DROP INDEX after a
-- CREATE INDEX on messages in one transaction would raise its lock from SHARE to ACCESS EXCLUSIVE,
-- and deadlock with a machine still serving that read messages and then writes them.
DROP INDEX "messages_search_idx";--> statement-breakpoint
DROP INDEX "messages_open_questions_idx";--> statement-breakpoint
ALTER INDEX "messages_open_questions_idx_by_id" RENAME TO "messages_open_questions_idx";