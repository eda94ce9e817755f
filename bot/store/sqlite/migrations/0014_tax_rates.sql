-- Tax, discounts and more in the invoice form (bot/domain/invoice_extras.py). The catalog refresh mirrors
-- the account's tax rates, coupons and promotion codes here, so the form's tax search and its check of a
-- typed code answer from the store within Slack's 3 s. `discount_codes` holds both kinds: `code` is what a
-- rep types (a coupon's id, a promotion code's code; `code_lower` for Stripe's case-insensitive match).
-- `invoices.pdf_url`: Stripe's `invoice_pdf`, linked from the invoice's message beside the hosted page.
ALTER TABLE invoices ADD COLUMN pdf_url TEXT;
CREATE TABLE tax_rates (
   tenant_id TEXT NOT NULL,
   stripe_id TEXT NOT NULL,
   display_name TEXT NOT NULL,
   -- Stripe's percentage as written ("8.875"): exact
   percentage TEXT NOT NULL,
   inclusive INTEGER NOT NULL,
   jurisdiction TEXT NOT NULL DEFAULT '',
   active INTEGER NOT NULL,
   updated_at REAL NOT NULL,
   PRIMARY KEY (tenant_id, stripe_id)
);
CREATE TABLE discount_codes (
   tenant_id TEXT NOT NULL,
   kind TEXT NOT NULL,
   stripe_id TEXT NOT NULL,
   code TEXT NOT NULL,
   code_lower TEXT NOT NULL,
   coupon_id TEXT NOT NULL,
   name TEXT NOT NULL DEFAULT '',
   percent_off TEXT,
   amount_off INTEGER,
   currency TEXT,
   active INTEGER NOT NULL,
   expires_at REAL,
   minimum_amount INTEGER,
   minimum_amount_currency TEXT,
   customer_id TEXT,
   updated_at REAL NOT NULL,
   PRIMARY KEY (tenant_id, kind, stripe_id)
);
CREATE INDEX discount_codes_by_code ON discount_codes (tenant_id, code_lower);
