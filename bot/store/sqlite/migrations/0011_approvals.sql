-- Approval above a limit (APPROVAL_LIMITS): an invoice above its currency's limit is held as a draft
-- until an approver decides. `invoices.approval` is what its message shows ("pending", "approved",
-- "rejected"; NULL: no approval asked); `approvals` keeps the request and its one decision.
ALTER TABLE invoices ADD COLUMN approval TEXT;
CREATE TABLE approvals (
   tenant_id TEXT NOT NULL,
   invoice_id TEXT NOT NULL,
   status TEXT NOT NULL,
   requested_by TEXT NOT NULL,
   -- what the held path's Stripe idempotency keys derive from: the approval sends with the same keys
   key_base TEXT NOT NULL,
   total INTEGER NOT NULL,
   currency TEXT NOT NULL,
   limit_amount INTEGER NOT NULL,
   channel_id TEXT,
   view_id TEXT,
   decided_by TEXT,
   decided_at REAL,
   reason TEXT,
   -- [[channel, ts], ...]: the requests posted to approvers, updated with the decision
   messages_json TEXT NOT NULL DEFAULT '[]',
   created_at REAL NOT NULL,
   updated_at REAL NOT NULL,
   PRIMARY KEY (tenant_id, invoice_id)
);
