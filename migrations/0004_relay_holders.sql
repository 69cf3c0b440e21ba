CREATE TABLE "relay_holders" (
	"instance_id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"machine_id" text NOT NULL,
	"connected_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "relay_holders" ADD CONSTRAINT "relay_holders_instance_id_agent_instances_id_fk" FOREIGN KEY ("instance_id") REFERENCES "public"."agent_instances"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "relay_holders" ADD CONSTRAINT "relay_holders_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "relay_holders_machine_idx" ON "relay_holders" USING btree ("machine_id");