"""One error hierarchy. Raise these; `payfacile.platform.app` renders them as HTML or JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from payfacile.platform.text import Message, _l


class PayFacileError(Exception):
    status = 400
    code = "bad_request"
    title: Message = _l("Something is wrong with this request")
    links: tuple[tuple[Message, str], ...] = ()  # (label, URL) the error page offers
    details: tuple[Message, ...] = ()  # paragraphs the error page adds after the message

    def __init__(self, message: Message, *, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class InvalidInput(PayFacileError):
    status = 422
    code = "invalid_input"
    title = _l("Please check what you entered")


class FieldErrors(InvalidInput):
    """Every field of a form that is wrong, each with its message, so the form shows them all
    at once. The key "" holds a problem of the whole form (a card the bank declines), which
    no field can fix. `order` (the form's field names, top to bottom) sorts them as the
    buyer reads the form; names it omits come after."""

    def __init__(self, errors: Mapping[str, Message], *, order: Sequence[str] = ()) -> None:
        rank = {name: position for position, name in enumerate(("", *order))}
        self.errors = dict(sorted(errors.items(), key=lambda item: rank.get(item[0], len(rank))))
        field, message = next(iter(self.errors.items()))
        super().__init__(message, field=field or None)


class BadHost(PayFacileError):
    status = 400
    code = "bad_host"
    title = _l("Bad request")


class MalformedRequest(PayFacileError):
    """A request no form or page could have sent (a NUL byte): refused before any handler."""

    status = 400
    code = "malformed_request"
    title = _l("Bad request")


class NotAllowed(PayFacileError):
    status = 403
    code = "not_allowed"
    title = _l("Not allowed")


class CsrfFailed(NotAllowed):
    code = "csrf_failed"
    title = _l("This form has expired")


class NotFound(PayFacileError):
    status = 404
    code = "not_found"
    title = _l("Page not found")


class NoStoreHere(NotFound):
    code = "no_store_here"
    title = _l("No store here")


class Conflict(PayFacileError):
    status = 409
    code = "conflict"
    title = _l("Conflict")


class RateLimited(PayFacileError):
    status = 429
    code = "rate_limited"
    title = _l("Too many attempts")

    def __init__(self, message: Message, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(PayFacileError):
    status = 503
    code = "store_unavailable"
    title = _l("This store is unavailable")


class ServiceUnavailable(PayFacileError):
    status = 503
    code = "service_unavailable"
    title = _l("Service unavailable")
