"""Currencies Stripe accepts for prices, invoice items and invoices (lowercase ISO 4217)."""

from __future__ import annotations

from .errors import invalid_param

# Currencies without a minor unit: amounts are whole units (1500 JPY is `amount=1500`).
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())

# Currencies with three minor-unit digits.
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())

SUPPORTED = frozenset(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn
    bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf
    gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr
    lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen
    pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd std szl thb tjs tnd
    top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
    """.split()
)


def normalize_currency(value: str, param: str = "currency") -> str:
    """Stripe accepts any case and answers in lowercase; unknown codes are a 400."""
    code = value.lower()
    if code not in SUPPORTED:
        raise invalid_param(
            param,
            f"Invalid currency: {value}. Stripe currently supports these currencies: " + ", ".join(sorted(SUPPORTED)),
        )
    return code
