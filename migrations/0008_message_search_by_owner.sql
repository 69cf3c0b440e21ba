CREATE INDEX "messages_owner_search_idx" ON "messages" USING gin (("search_vector" || array_to_tsvector(array['u/' || "user_id"::text])));--> statement-breakpoint
DROP INDEX "messages_search_idx";