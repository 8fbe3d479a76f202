-- Roles are cluster-wide: another database (or a concurrent migration) may have created it already.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'heidrun_app') THEN
    CREATE ROLE heidrun_app NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO heidrun_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO heidrun_app;
--> statement-breakpoint
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO heidrun_app;
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON "audit_events" FROM heidrun_app;
--> statement-breakpoint
REVOKE INSERT, DELETE, TRUNCATE ON "audit_chain_head" FROM heidrun_app;
--> statement-breakpoint
-- Tables that later migrations create (as the same migrating role) get the application's grants too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO heidrun_app;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO heidrun_app;
--> statement-breakpoint
INSERT INTO "audit_chain_head" ("id", "seq", "hash")
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
ON CONFLICT ("id") DO NOTHING;
--> statement-breakpoint
-- The second wall: even a role that was granted UPDATE or DELETE by mistake cannot rewrite history.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
--> statement-breakpoint
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON "audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
--> statement-breakpoint
-- The head only moves forward, one appended batch at a time; it is never rewound to hide a deleted tail.
CREATE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq THEN
    RAISE EXCEPTION 'audit_chain_head only moves forward (seq % -> %)', OLD.seq, NEW.seq
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON "audit_chain_head"
  FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only();
--> statement-breakpoint
CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE OR TRUNCATE ON "audit_chain_head"
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
