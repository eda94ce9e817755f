-- Credit notes (bot/services/credit_notes.py): what they took off an invoice, as Stripe counts it on the
-- invoice (`pre_payment_credit_notes_amount`: off what was due; `post_payment_credit_notes_amount`:
-- refunded, credited to the customer's balance or outside Stripe). The message shows "Credited", and a
-- credit note's form allows no more than what was paid or is due.
ALTER TABLE invoices ADD COLUMN credited_before_payment INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN credited_after_payment INTEGER NOT NULL DEFAULT 0;
