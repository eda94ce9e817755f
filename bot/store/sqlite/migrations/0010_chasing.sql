-- Chasing unpaid invoices (bot/domain/chasing.py). Per invoice: its own cadence (NULL: the workspace's;
-- 'off'; or days such as '-3,0,7'), a promise to pay (a date, a note, the day its lapse was told), a
-- dispute (reason, who, when), snoozed and skipped reminders. The cadence, promise and dispute are also in
-- the invoice's Stripe metadata: `chasing_from_stripe` marks state taken from there (a rebuilt database),
-- which newer snapshots may replace until the bot itself changes it (`chasing_changed_at`).
-- `reminder_claim` names the job that took today's reminder (at most one a day, whoever asks).
ALTER TABLE invoices ADD COLUMN chase_days TEXT;
ALTER TABLE invoices ADD COLUMN promised_until TEXT;
ALTER TABLE invoices ADD COLUMN promise_note TEXT;
ALTER TABLE invoices ADD COLUMN promise_lapsed_on TEXT;
ALTER TABLE invoices ADD COLUMN dispute_reason TEXT;
ALTER TABLE invoices ADD COLUMN disputed_by TEXT;
ALTER TABLE invoices ADD COLUMN disputed_at REAL;
ALTER TABLE invoices ADD COLUMN snoozed_until TEXT;
ALTER TABLE invoices ADD COLUMN skipped_days TEXT;
ALTER TABLE invoices ADD COLUMN chasing_changed_at REAL;
ALTER TABLE invoices ADD COLUMN chasing_from_stripe INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN reminder_claim TEXT;
-- A workspace's cadence, set with `/invoice chasing`; no row: the default (-3, 0, 7, 14, 30).
CREATE TABLE chasing_settings (
   tenant_id TEXT PRIMARY KEY,
   days TEXT NOT NULL,
   set_by TEXT NOT NULL,
   set_at REAL NOT NULL
);
