CREATE TABLE "account_operations" (
	"request_id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"fingerprint" text NOT NULL,
	"account_id" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"reference" text DEFAULT '' NOT NULL,
	"response" jsonb NOT NULL,
	"actor" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "accounts" (
	"account_id" text PRIMARY KEY NOT NULL,
	"balance_micros" bigint DEFAULT 0 NOT NULL,
	"held_micros" bigint DEFAULT 0 NOT NULL,
	"credit_limit_micros" bigint DEFAULT 0 NOT NULL,
	"currency" text DEFAULT 'USD' NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "accounts_held_non_negative" CHECK ("accounts"."held_micros" >= 0),
	CONSTRAINT "accounts_credit_limit_non_negative" CHECK ("accounts"."credit_limit_micros" >= 0)
);
--> statement-breakpoint
CREATE TABLE "audit_chain_head" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_chain_head_single_row" CHECK ("audit_chain_head"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"event_type" text NOT NULL,
	"request_id" text,
	"preauth_id" text,
	"account_id" text,
	"provider_id" text,
	"actor" text NOT NULL,
	"payload" text NOT NULL,
	"recorded_at" timestamp with time zone NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"entry_type" text NOT NULL,
	"account_kind" text NOT NULL,
	"account_id" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "preauths" (
	"preauth_id" text PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"fingerprint" text NOT NULL,
	"account_id" text NOT NULL,
	"provider_id" text NOT NULL,
	"model" text NOT NULL,
	"status" text NOT NULL,
	"decline_reason" text,
	"held_micros" bigint NOT NULL,
	"estimated_cost_micros" bigint NOT NULL,
	"estimated_input_tokens" bigint NOT NULL,
	"max_output_tokens" bigint NOT NULL,
	"available_micros" bigint NOT NULL,
	"price_version_id" bigint,
	"price_version" bigint NOT NULL,
	"actor" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"capture_request_id" text,
	"capture_fingerprint" text,
	"captured_input_tokens" bigint,
	"captured_output_tokens" bigint,
	"captured_cached_input_tokens" bigint,
	"captured_cache_write_tokens" bigint,
	"captured_cost_micros" bigint,
	"captured_at" timestamp (3) with time zone,
	"cancel_request_id" text,
	"cancel_fingerprint" text,
	"cancel_reason" text,
	"cancelled_at" timestamp (3) with time zone,
	"expired_at" timestamp (3) with time zone,
	"released_micros" bigint,
	CONSTRAINT "preauths_status_valid" CHECK ("preauths"."status" IN ('pending','captured','cancelled','expired','declined')),
	CONSTRAINT "preauths_held_non_negative" CHECK ("preauths"."held_micros" >= 0),
	CONSTRAINT "preauths_held_only_pending" CHECK ("preauths"."status" = 'pending' OR "preauths"."held_micros" = 0)
);
--> statement-breakpoint
CREATE TABLE "price_versions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"provider_id" text NOT NULL,
	"model" text NOT NULL,
	"version" bigint NOT NULL,
	"input_micros_per_mtok" bigint NOT NULL,
	"output_micros_per_mtok" bigint NOT NULL,
	"cached_input_micros_per_mtok" bigint,
	"cache_write_micros_per_mtok" bigint,
	"tiers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"currency" text NOT NULL,
	"effective_from" timestamp (3) with time zone NOT NULL,
	"request_id" text NOT NULL,
	"fingerprint" text NOT NULL,
	"actor" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "price_versions_non_negative" CHECK ("price_versions"."input_micros_per_mtok" >= 0 AND "price_versions"."output_micros_per_mtok" >= 0)
);
--> statement-breakpoint
CREATE TABLE "rerun_requests" (
	"request_id" text PRIMARY KEY NOT NULL,
	"fingerprint" text NOT NULL,
	"filters" jsonb NOT NULL,
	"matched" bigint NOT NULL,
	"requeued" bigint NOT NULL,
	"actor" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "settlements" (
	"request_id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"provider_id" text NOT NULL,
	"model" text NOT NULL,
	"preauth_id" text,
	"status" text NOT NULL,
	"failure_reason" text,
	"input_tokens" bigint NOT NULL,
	"output_tokens" bigint NOT NULL,
	"cached_input_tokens" bigint NOT NULL,
	"cache_write_tokens" bigint NOT NULL,
	"total_cost_micros" bigint DEFAULT 0 NOT NULL,
	"input_cost_micros" bigint DEFAULT 0 NOT NULL,
	"output_cost_micros" bigint DEFAULT 0 NOT NULL,
	"cached_input_cost_micros" bigint DEFAULT 0 NOT NULL,
	"cache_write_cost_micros" bigint DEFAULT 0 NOT NULL,
	"rounding_micros" bigint DEFAULT 0 NOT NULL,
	"provider_earnings_micros" bigint DEFAULT 0 NOT NULL,
	"company_fee_micros" bigint DEFAULT 0 NOT NULL,
	"commission_rate_bps" integer DEFAULT 0 NOT NULL,
	"price_version" bigint,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"settled_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	CONSTRAINT "settlements_status_valid" CHECK ("settlements"."status" IN ('settled','failed')),
	CONSTRAINT "settlements_split_adds_up" CHECK ("settlements"."provider_earnings_micros" + "settlements"."company_fee_micros" = "settlements"."total_cost_micros")
);
--> statement-breakpoint
CREATE TABLE "usage_events" (
	"request_id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"provider_id" text NOT NULL,
	"model" text NOT NULL,
	"preauth_id" text,
	"input_tokens" bigint NOT NULL,
	"output_tokens" bigint NOT NULL,
	"cached_input_tokens" bigint NOT NULL,
	"cache_write_tokens" bigint NOT NULL,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"recorded_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage_rollups_hourly" (
	"bucket_start" timestamp (3) with time zone NOT NULL,
	"provider_id" text NOT NULL,
	"account_id" text NOT NULL,
	"model" text NOT NULL,
	"request_count" bigint NOT NULL,
	"input_tokens" bigint NOT NULL,
	"output_tokens" bigint NOT NULL,
	"cached_input_tokens" bigint NOT NULL,
	"cache_write_tokens" bigint NOT NULL,
	"total_cost_micros" bigint NOT NULL,
	CONSTRAINT "usage_rollups_hourly_bucket_start_provider_id_account_id_model_pk" PRIMARY KEY("bucket_start","provider_id","account_id","model")
);
--> statement-breakpoint
ALTER TABLE "preauths" ADD CONSTRAINT "preauths_price_version_id_price_versions_id_fk" FOREIGN KEY ("price_version_id") REFERENCES "public"."price_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "account_operations_account_idx" ON "account_operations" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "audit_events_request_idx" ON "audit_events" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "audit_events_preauth_idx" ON "audit_events" USING btree ("preauth_id");--> statement-breakpoint
CREATE INDEX "audit_events_account_idx" ON "audit_events" USING btree ("account_id");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_entries_request_entry_key" ON "ledger_entries" USING btree ("request_id","entry_type");--> statement-breakpoint
CREATE INDEX "ledger_entries_account_idx" ON "ledger_entries" USING btree ("account_kind","account_id");--> statement-breakpoint
CREATE UNIQUE INDEX "preauths_request_id_key" ON "preauths" USING btree ("request_id");--> statement-breakpoint
CREATE UNIQUE INDEX "preauths_capture_request_id_key" ON "preauths" USING btree ("capture_request_id");--> statement-breakpoint
CREATE UNIQUE INDEX "preauths_cancel_request_id_key" ON "preauths" USING btree ("cancel_request_id");--> statement-breakpoint
CREATE INDEX "preauths_pending_expiry_idx" ON "preauths" USING btree ("expires_at") WHERE "preauths"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "preauths_account_idx" ON "preauths" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "price_versions_request_id_key" ON "price_versions" USING btree ("request_id");--> statement-breakpoint
CREATE UNIQUE INDEX "price_versions_key_version_key" ON "price_versions" USING btree ("provider_id","model","version");--> statement-breakpoint
CREATE INDEX "price_versions_lookup_idx" ON "price_versions" USING btree ("provider_id","model","effective_from");--> statement-breakpoint
CREATE INDEX "settlements_history_idx" ON "settlements" USING btree ("occurred_at" DESC NULLS LAST,"request_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "settlements_provider_history_idx" ON "settlements" USING btree ("provider_id","occurred_at" DESC NULLS LAST,"request_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "settlements_account_history_idx" ON "settlements" USING btree ("account_id","occurred_at" DESC NULLS LAST,"request_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "settlements_failed_idx" ON "settlements" USING btree ("settled_at") WHERE "settlements"."status" = 'failed';--> statement-breakpoint
CREATE INDEX "settlements_preauth_idx" ON "settlements" USING btree ("preauth_id");--> statement-breakpoint
CREATE INDEX "usage_events_occurred_idx" ON "usage_events" USING btree ("occurred_at");