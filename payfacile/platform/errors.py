"""One error hierarchy. Raise these; `payfacile.platform.app` renders them as HTML or JSON."""

from __future__ import annotations

from payfacile.platform.text import Message, _l


class PayFacileError(Exception):
    status = 400
    code = "bad_request"
    title: Message = _l("Something is wrong with this request")
    links: tuple[tuple[Message, str], ...] = ()  # (label, URL) the error page offers

    def __init__(self, message: Message, *, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class InvalidInput(PayFacileError):
    status = 422
    code = "invalid_input"
    title = _l("Please check what you entered")


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
