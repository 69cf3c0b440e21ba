DROP INDEX "deliveries_message_channel_target_uq";--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "instance_id" uuid;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "kind" text DEFAULT 'question' NOT NULL;--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_instance_id_agent_instances_id_fk" FOREIGN KEY ("instance_id") REFERENCES "public"."agent_instances"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_progress_uq" ON "deliveries" USING btree ("instance_id","channel","target") WHERE "deliveries"."kind" = 'progress';--> statement-breakpoint
CREATE INDEX "deliveries_message_idx" ON "deliveries" USING btree ("message_id");--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_message_channel_target_uq" ON "deliveries" USING btree ("message_id","channel","target","kind");