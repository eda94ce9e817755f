-- Approval above a limit (APPROVAL_LIMITS): an invoice above its currency's limit is held as a draft
-- until an approver decides. `invoices.approval` is what its message shows ("pending", "approved",
-- "rejected"; NULL: no approval asked); `approvals` keeps the request and its one decision.
ALTER TABLE invoices ADD COLUMN approval text;
CREATE TABLE approvals (
   tenant_id text NOT NULL,
   invoice_id text NOT NULL,
   status text NOT NULL,
   requested_by text NOT NULL,
   -- what the held path's Stripe idempotency keys derive from: the approval sends with the same keys
   key_base text NOT NULL,
   total bigint NOT NULL,
   currency text NOT NULL,
   limit_amount bigint NOT NULL,
   channel_id text,
   view_id text,
   decided_by text,
   decided_at double precision,
   reason text,
   -- [[channel, ts], ...]: the requests posted to approvers, updated with the decision
   messages_json text NOT NULL DEFAULT '[]',
   created_at double precision NOT NULL,
   updated_at double precision NOT NULL,
   PRIMARY KEY (tenant_id, invoice_id)
);
