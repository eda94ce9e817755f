BEGIN TRANSACTION;
CREATE TABLE "_sqlite_migrations" (
   "id" INTEGER PRIMARY KEY,
   "migration_set" TEXT,
   "name" TEXT,
   "applied_at" TEXT
);
INSERT INTO "_sqlite_migrations" VALUES(1,'invoicebot','m001_initial','2026-11-29 21:28:08.622743+00:00');
INSERT INTO "_sqlite_migrations" VALUES(2,'invoicebot','m002_event_outcomes_and_notices','2026-11-29 21:28:08.624096+00:00');
INSERT INTO "_sqlite_migrations" VALUES(3,'invoicebot','m003_deliveries','2026-11-29 21:28:08.625271+00:00');
CREATE TABLE "audit" (
   "id" INTEGER PRIMARY KEY,
   "at" REAL,
   "actor" TEXT,
   "action" TEXT,
   "invoice_id" TEXT,
   "stripe_ids" TEXT,
   "detail" TEXT
);
INSERT INTO "audit" VALUES(1,1.79598768862904715538e+09,'UREP','create','in_legacy1','{"invoice": "in_legacy1", "customer": "cus_legacy1"}','{"currency": "usd", "lines": 1, "send_now": true}');
CREATE TABLE "customers" (
   "stripe_id" TEXT PRIMARY KEY,
   "email" TEXT,
   "name" TEXT,
   "created_at" REAL,
   "updated_at" REAL
);
INSERT INTO "customers" VALUES('cus_legacy1','jenny@example.com','Jenny Rosen',1.79598768862555670743e+09,1.79598768862555670743e+09);
CREATE TABLE "deliveries" (
   "key" TEXT PRIMARY KEY,
   "channel" TEXT,
   "thread_ts" TEXT,
   "status" TEXT,
   "ts" TEXT,
   "started_at" REAL
);
INSERT INTO "deliveries" VALUES('message:in_legacy1','CSALES',NULL,'sent','1700000000.000100',1.79598768862971091275e+09);
CREATE TABLE "invoices" (
   "stripe_id" TEXT PRIMARY KEY,
   "number" TEXT,
   "status" TEXT NOT NULL,
   "currency" TEXT NOT NULL,
   "total" INTEGER DEFAULT 0,
   "amount_paid" INTEGER DEFAULT 0,
   "amount_remaining" INTEGER DEFAULT 0,
   "due_date" INTEGER,
   "hosted_url" TEXT,
   "customer_id" TEXT,
   "customer_name" TEXT,
   "customer_email" TEXT,
   "lines_json" TEXT,
   "channel_id" TEXT,
   "message_ts" TEXT,
   "rep_user_id" TEXT,
   "team_id" TEXT,
   "view_id" TEXT,
   "state_at" INTEGER DEFAULT 0,
   "last_reminded_at" REAL,
   "created_at" REAL,
   "updated_at" REAL
, "overdue_notified_at" REAL);
INSERT INTO "invoices" VALUES('in_legacy1','LEG-0001','open','usd',123400,0,123400,1767225600,'https://invoice.stripe.com/i/legacy1','cus_legacy1','Jenny Rosen','jenny@example.com','[{"description": "Services", "quantity": 1, "amount": 123400}]','CSALES','1700000000.000100','UREP','T123','V_LEGACY1',1700000000,NULL,1.79598768862684178351e+09,1.79598768862684178351e+09,NULL);
INSERT INTO "invoices" VALUES('in_legacy2','LEG-0002','paid','jpy',5000,5000,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,1700000100,NULL,1.79598768862734222417e+09,1.79598768862734222417e+09,NULL);
CREATE TABLE "jobs" (
   "id" INTEGER PRIMARY KEY,
   "kind" TEXT NOT NULL,
   "key" TEXT NOT NULL,
   "payload" TEXT,
   "status" TEXT NOT NULL,
   "attempts" INTEGER DEFAULT 0,
   "run_after" REAL DEFAULT 0.0,
   "lease_until" REAL DEFAULT 0.0,
   "last_error" TEXT,
   "created_at" REAL,
   "updated_at" REAL
, "channel" TEXT, "digest_key" TEXT);
INSERT INTO "jobs" VALUES(1,'stripe_event','event:evt_legacy1','{"event_id": "evt_legacy1"}','pending',0,0.0,0.0,NULL,1.79598768862762808804e+09,1.79598768862762808804e+09,NULL,NULL);
INSERT INTO "jobs" VALUES(2,'stripe_event','event:evt_legacy2','{"event_id": "evt_legacy2"}','pending',0,0.0,0.0,NULL,1.79598768862776660918e+09,1.79598768862776660918e+09,NULL,NULL);
INSERT INTO "jobs" VALUES(3,'create_invoice','create:V_LEGACY3','{"view_id": "V_LEGACY3", "team_id": "T123", "user_id": "UREP", "channel_id": "CSALES", "customer_id": "cus_legacy1", "customer_name": null, "customer_email": null, "currency": "usd", "lines": [{"quantity": 2, "price_id": "price_legacy1", "description": "Gold Special", "unit_amount": 1000}], "days_until_due": 30, "memo": null, "send_now": true}','pending',0,1.7959876886279678345e+09,0.0,NULL,1.7959876886279678345e+09,1.7959876886279678345e+09,NULL,NULL);
INSERT INTO "jobs" VALUES(4,'channel_notice','notice:evt_legacy1:CPAYMENTS','{"channel": "CPAYMENTS", "kind": "paid", "invoice_id": "in_legacy2", "text": ":white_check_mark: Paid \u00a55,000"}','pending',0,1795987688.62808,0.0,NULL,1795987688.62808,1795987688.62808,'CPAYMENTS',NULL);
INSERT INTO "jobs" VALUES(5,'refresh_catalog','refresh_catalog:1','{}','done',1,1.79598768862824463847e+09,1.7959877486283409595e+09,NULL,1.79598768862824463847e+09,1.79598768862893366816e+09,NULL,NULL);
CREATE TABLE "prices" (
   "stripe_id" TEXT PRIMARY KEY,
   "product_id" TEXT,
   "product_name" TEXT,
   "unit_amount" INTEGER,
   "currency" TEXT,
   "active" INTEGER,
   "updated_at" REAL
);
INSERT INTO "prices" VALUES('price_legacy1','prod_legacy1','Gold Special',1000,'usd',1,1.79598768862584471706e+09);
CREATE TABLE "routes" (
   "kind" TEXT,
   "key" TEXT,
   "channel_id" TEXT,
   "set_by" TEXT,
   "at" REAL,
   PRIMARY KEY ("kind", "key")
);
INSERT INTO "routes" VALUES('customer','jenny@example.com','CVIP','UADMIN',1795987688.62927);
CREATE TABLE "stripe_events" (
   "id" TEXT PRIMARY KEY,
   "type" TEXT,
   "created" INTEGER,
   "object_id" TEXT,
   "payload" TEXT,
   "received_at" REAL,
   "processed_at" REAL
, "outcome" TEXT);
INSERT INTO "stripe_events" VALUES('evt_legacy1','invoice.paid',1700000100,'in_legacy2','{"id": "evt_legacy1", "type": "invoice.paid", "created": 1700000100, "data": {"object": {"id": "in_legacy2", "object": "invoice", "status": "paid", "currency": "jpy"}}}',1.79598768862762808804e+09,NULL,'{"invoice_id": "in_legacy2", "refresh": false, "thread_text": null, "notice": "paid"}');
INSERT INTO "stripe_events" VALUES('evt_legacy2','invoice.sent',1700000200,'in_legacy1','{"id": "evt_legacy2", "type": "invoice.sent", "created": 1700000200, "data": {"object": {"id": "in_legacy1", "object": "invoice", "status": "open", "currency": "usd"}}}',1.79598768862776660918e+09,NULL,NULL);
CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"
    ON "_sqlite_migrations" ("migration_set", "name");
CREATE INDEX "idx_customers_email"
    ON "customers" ("email");
CREATE INDEX "idx_invoices_number"
    ON "invoices" ("number");
CREATE INDEX "idx_invoices_status_created_at"
    ON "invoices" ("status", "created_at");
CREATE INDEX "idx_invoices_rep_user_id_created_at"
    ON "invoices" ("rep_user_id", "created_at");
CREATE UNIQUE INDEX "idx_invoices_view_id"
    ON "invoices" ("view_id");
CREATE UNIQUE INDEX "idx_jobs_key"
    ON "jobs" ("key");
CREATE INDEX "idx_jobs_status_run_after"
    ON "jobs" ("status", "run_after");
CREATE INDEX "idx_audit_invoice_id_at"
    ON "audit" ("invoice_id", "at");
CREATE INDEX "idx_jobs_kind_channel_status"
    ON "jobs" ("kind", "channel", "status");
CREATE INDEX "idx_jobs_digest_key"
    ON "jobs" ("digest_key");
COMMIT;
