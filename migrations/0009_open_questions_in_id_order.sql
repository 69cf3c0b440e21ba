CREATE INDEX "messages_open_questions_idx_by_id" ON "messages" USING btree ("instance_id","id") WHERE "messages"."requires_user_input" and "messages"."answered_at" is null;--> statement-breakpoint
DROP INDEX "messages_open_questions_idx";--> statement-breakpoint
ALTER INDEX "messages_open_questions_idx_by_id" RENAME TO "messages_open_questions_idx";