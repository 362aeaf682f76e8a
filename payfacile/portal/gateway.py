"""Payment gateways: what turns what a buyer typed into a token we may keep.

Only a token, the brand, the last four digits, the expiry and a keyed fingerprint are ever
stored. A real processor plugs in behind `PaymentGateway` with its own hosted fields: the
browser sends the processor the card number and the form sends us its token
(`from_hosted_fields`), so a card number never reaches this server. The built-in
`TestGateway` takes the fields itself, for development and tests, and checks them as a
processor would: Luhn, expiry and CVC for cards (its decline number is refused), the IBAN
through schwifty for SEPA, every field at once (`FieldErrors`), as a form shows them. Nothing
here logs what it is given.

A kept token pays through `charge`, which either returns the processor's charge or raises
`Declined` with the processor's reason. Every charge carries an idempotency key: asked again
with the same key, a processor answers with the first charge instead of making a second
(as Stripe's `Idempotency-Key` does), so an attempt retried after a crash cannot pay twice.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from payfacile.platform.config import Settings
from payfacile.platform.errors import FieldErrors, InvalidInput, NotAllowed
from payfacile.platform.text import Message, Text, _l
from payfacile.portal.models import PaymentMethodKind

DECLINED_TEST_CARD = "4000000000000002"
NO_FUNDS_TEST_CARD = "4000000000000341"  # saved like any card; every charge on it is declined
NO_FUNDS_MARK = "_nofunds_"
DECLINE_REASONS: dict[str, Text] = {  # a processor's decline codes, in words a buyer reads
    "insufficient_funds": _l("insufficient funds"),
    "expired_card": _l("the card has expired"),
    "card_declined": _l("declined by the bank"),
}
BRANDS = (  # (brand, number prefix, lengths, CVC length)
    ("Amex", re.compile(r"3[47]"), (15,), 4),
    ("Visa", re.compile(r"4"), (13, 16, 19), 3),
    ("Mastercard", re.compile(r"5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720"), (16,), 3),
    ("Discover", re.compile(r"6011|65"), (16, 19), 3),
)
EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")
CARD_FIELDS = ("number", "expiry", "cvc")  # as the card form shows them
SEPA_FIELDS = ("holder", "iban")
CARD_DECLINED = _l("Your card was declined. Nothing was saved: try another card.")
T = TypeVar("T")


@dataclass(frozen=True)
class Tokenized:
    """A payment method as we may keep it."""

    kind: PaymentMethodKind
    token: str
    brand: str
    last4: str
    fingerprint: str
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class Charge:
    """Money the processor took: its id for the charge."""

    id: str


class Declined(Exception):
    """The processor refused the charge; `code` is its reason (a `DECLINE_REASONS` key)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def decline_words(code: str, language: str) -> str:
    """A decline code as a buyer reads it in `language`; an unknown code as it came."""
    words = DECLINE_REASONS.get(code)
    return words.in_language(language) if words is not None else code


class PaymentGateway(Protocol):
    name: str

    async def tokenize_card(
        self, *, number: str, expiry: str, cvc: str, now: datetime | None = None
    ) -> Tokenized:
        """Check and tokenize card fields typed into our own form (test gateway only)."""
        ...

    async def tokenize_sepa(self, *, iban: str, holder: str) -> Tokenized: ...

    async def from_hosted_fields(self, token: str) -> Tokenized:
        """What the processor's hosted fields produced: its token, described by it."""
        ...

    async def charge(
        self, *, token: str, amount: int, currency: str, idempotency_key: str
    ) -> Charge:
        """Take `amount` (minor units) with a kept token, or raise `Declined`. The same
        `idempotency_key` gives the same charge, never a second one."""
        ...

    async def refund(
        self, *, charge: str, amount: int, currency: str, idempotency_key: str
    ) -> Charge:
        """Give back `amount` of the charge `charge` (empty for a payment recorded without
        one: history, imports); the same key gives the same refund, never a second."""
        ...


class TestGateway:
    """Development and tests: tokens are random, nothing leaves the process."""

    name = "test"

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    async def tokenize_card(
        self, *, number: str, expiry: str, cvc: str, now: datetime | None = None
    ) -> Tokenized:
        digits = re.sub(r"[\s-]", "", number or "")
        errors: dict[str, Message] = {}
        card = _checked(errors, "number", lambda: _brand(digits))
        month_year = _checked(errors, "expiry", lambda: _expiry(expiry, now or datetime.now(UTC)))
        _checked(errors, "cvc", lambda: _cvc(cvc, card[1] if card else None))
        if card is None or month_year is None or errors:
            raise FieldErrors(errors, order=CARD_FIELDS)
        if digits == DECLINED_TEST_CARD:  # a whole-card refusal: no field of it is wrong
            raise FieldErrors({"": CARD_DECLINED})
        mark = NO_FUNDS_MARK if digits == NO_FUNDS_TEST_CARD else "_"
        return Tokenized(
            kind=PaymentMethodKind.CARD,
            token=f"tok_test{mark}{secrets.token_urlsafe(18)}",
            brand=card[0],
            last4=digits[-4:],
            fingerprint=self._fingerprint(digits),
            exp_month=month_year[0],
            exp_year=month_year[1],
        )

    async def tokenize_sepa(self, *, iban: str, holder: str) -> Tokenized:
        errors: dict[str, Message] = {}
        _checked(errors, "holder", lambda: _holder(holder))
        account = _checked(errors, "iban", lambda: _iban(iban))
        if account is None or errors:
            raise FieldErrors(errors, order=SEPA_FIELDS)
        return Tokenized(
            kind=PaymentMethodKind.SEPA,
            token=f"tok_test_sepa_{secrets.token_urlsafe(18)}",
            brand=account.country_code,
            last4=account.compact[-4:],
            fingerprint=self._fingerprint(account.compact),
        )

    async def from_hosted_fields(self, token: str) -> Tokenized:
        raise NotAllowed(_l("This payment gateway takes the card details in this form."))

    async def charge(
        self, *, token: str, amount: int, currency: str, idempotency_key: str
    ) -> Charge:
        """Declines a card saved as `NO_FUNDS_TEST_CARD`; takes anything else. The charge's id
        is a keyed digest of the idempotency key, so the same key gives the same charge."""
        if amount <= 0:
            raise ValueError("a charge takes a positive amount")
        if NO_FUNDS_MARK in token:
            raise Declined("insufficient_funds")
        digest = hmac.new(self._secret, b"charge:" + idempotency_key.encode(), "sha256")
        return Charge(id=f"ch_test_{digest.hexdigest()[:24]}")

    async def refund(
        self, *, charge: str, amount: int, currency: str, idempotency_key: str
    ) -> Charge:
        if amount <= 0:
            raise ValueError("a refund gives back a positive amount")
        digest = hmac.new(self._secret, b"refund:" + idempotency_key.encode(), "sha256")
        return Charge(id=f"re_test_{digest.hexdigest()[:24]}")

    def _fingerprint(self, account_number: str) -> str:
        """The same card or account gives the same fingerprint; it cannot be reversed."""
        digest = hmac.new(self._secret, b"payment-method:" + account_number.encode(), "sha256")
        return digest.hexdigest()[:32]


def _checked(errors: dict[str, Message], name: str, check: Callable[[], T]) -> T | None:
    """What `check` returns, or None with its message kept under `name`."""
    try:
        return check()
    except InvalidInput as error:
        errors[name] = error.message
        return None


def _brand(digits: str) -> tuple[str, int]:
    """The card's brand and the length of its security code."""
    if not digits:
        raise InvalidInput(_l("Enter the card number."))
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn(digits):
        raise InvalidInput(_l("This card number is not valid."))
    for brand, prefix, lengths, cvc_length in BRANDS:
        if prefix.match(digits) and len(digits) in lengths:
            return brand, cvc_length
    raise InvalidInput(_l("We accept Visa, Mastercard, American Express and Discover."))


def _cvc(text: str, length: int | None) -> None:
    """`length` digits; 3 or 4 while the card's brand is unknown (its number is wrong)."""
    code = (text or "").strip()
    if not code:
        raise InvalidInput(_l("Enter the security code."))
    if length is None and not re.fullmatch(r"\d{3,4}", code):
        raise InvalidInput(_l("A security code has 3 or 4 digits."))
    if length is not None and not re.fullmatch(rf"\d{{{length}}}", code):
        raise InvalidInput(_l("Enter the %(count)s-digit security code.", count=length))


def _holder(text: str) -> str:
    holder = " ".join((text or "").split())
    if not holder:
        raise InvalidInput(_l("Enter the account holder's name."))
    if len(holder) > 70:
        raise InvalidInput(_l("The holder's name is 70 characters at most."))
    return holder


def _iban(text: str) -> IBAN:
    if not (text or "").strip():
        raise InvalidInput(_l("Enter the IBAN of the account."))
    try:
        return IBAN(text)
    except (SchwiftyException, ValueError) as error:
        raise InvalidInput(
            _l("This IBAN is not valid. Check it against your bank statement.")
        ) from error


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _expiry(text: str, now: datetime) -> tuple[int, int]:
    found = EXPIRY.match(text or "")  # empty too: the message asks for it
    if found is None or not 1 <= int(found.group(1)) <= 12:
        raise InvalidInput(_l("Enter the expiry date as MM/YY."))
    month, year = int(found.group(1)), int(found.group(2))
    year = year + 2000 if year < 100 else year
    if (year, month) < (now.year, now.month):
        raise InvalidInput(_l("This card has expired."))
    if year > now.year + 20:
        raise InvalidInput(_l("Enter the expiry date as MM/YY."))
    return month, year


def gateway_for(settings: Settings) -> PaymentGateway | None:
    """The gateway payment methods go through, or None in production when the operator has
    named none: the test gateway would take real card numbers and save any Luhn-valid one."""
    if settings.production and settings.payment_gateway != "test":
        return None
    return TestGateway(settings.secret_keys[0])


def test_mode(settings: Settings) -> bool:
    """Whether every portal page must say that payments are not real (production running the
    test gateway because the operator named it)."""
    return settings.production and settings.payment_gateway == "test"
