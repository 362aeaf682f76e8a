"""VAT: computed per rate on the net total of that rate, rounded half-up (DESIGN.md, French
invoicing rules), never line by line. Amounts are minor units; rates are basis points."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class TaxAtRate:
    rate_bp: int  # 2000 = 20 %
    base: int  # the net total of every line at this rate
    amount: int  # the VAT on `base`


def vat_on(base: int, rate_bp: int) -> int:
    """The VAT on a net amount, rounded half-up to the minor unit (half a cent up, and a
    negative half away from zero)."""
    exact = Decimal(base) * Decimal(rate_bp) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def taxes_by_rate(lines: Iterable[tuple[int, int]]) -> list[TaxAtRate]:
    """One entry per rate, lowest first, from `(rate_bp, net)` pairs: the net total of the
    rate and the VAT on that total."""
    bases: dict[int, int] = {}
    for rate_bp, net in lines:
        bases[rate_bp] = bases.get(rate_bp, 0) + net
    return [TaxAtRate(rate, base, vat_on(base, rate)) for rate, base in sorted(bases.items())]
