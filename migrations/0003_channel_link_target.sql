ALTER TABLE "channel_links" ADD COLUMN "target" text;--> statement-breakpoint
UPDATE "channel_links" SET "target" = coalesce(CASE WHEN "channel" = 'telegram' THEN "chat_id" ELSE "team_id" || ':' || "external_user_id" END, '');--> statement-breakpoint
ALTER TABLE "channel_links" ALTER COLUMN "target" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "channel_links_channel_target_idx" ON "channel_links" USING btree ("channel","target");
