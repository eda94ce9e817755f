-- Tax, discounts and more in the invoice form (bot/domain/invoice_extras.py). The catalog refresh mirrors
-- the account's tax rates, coupons and promotion codes here, so the form's tax search and its check of a
-- typed code answer from the store within Slack's 3 s. `discount_codes` holds both kinds: `code` is what a
-- rep types (a coupon's id, a promotion code's code; `code_lower` for Stripe's case-insensitive match).
-- `invoices.pdf_url`: Stripe's `invoice_pdf`, linked from the invoice's message beside the hosted page.
ALTER TABLE invoices ADD COLUMN pdf_url text;
CREATE TABLE tax_rates (
   tenant_id text NOT NULL,
   stripe_id text NOT NULL,
   display_name text NOT NULL,
   -- Stripe's percentage as written ("8.875"): exact
   percentage text NOT NULL,
   inclusive boolean NOT NULL,
   jurisdiction text NOT NULL DEFAULT '',
   active boolean NOT NULL,
   updated_at double precision NOT NULL,
   PRIMARY KEY (tenant_id, stripe_id)
);
CREATE TABLE discount_codes (
   tenant_id text NOT NULL,
   kind text NOT NULL,
   stripe_id text NOT NULL,
   code text NOT NULL,
   code_lower text NOT NULL,
   coupon_id text NOT NULL,
   name text NOT NULL DEFAULT '',
   percent_off text,
   amount_off bigint,
   currency text,
   active boolean NOT NULL,
   expires_at double precision,
   minimum_amount bigint,
   minimum_amount_currency text,
   customer_id text,
   updated_at double precision NOT NULL,
   PRIMARY KEY (tenant_id, kind, stripe_id)
);
CREATE INDEX discount_codes_by_code ON discount_codes (tenant_id, code_lower);
