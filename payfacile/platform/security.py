"""CSRF protection, security headers and the client address behind trusted proxies.

CSRF: a random value in an HttpOnly, host-only, SameSite=Lax cookie; forms carry an HMAC of
it (`csrf_token()` in templates, or the `X-CSRF-Token` header). An unsafe request must carry a
token matching its cookie, and an `Origin` header, when sent, must be this host (`null` is
refused).

The HMAC is masked anew every time a page asks for it, as Django does: a random pad, then the
pad XOR the HMAC, so no two pages carry the same token and a compressed page that also
reflects what an attacker sent cannot be read back byte by byte (BREACH). The bare HMAC, what
pages carried before, is still accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from quart import Request, Response, g, has_request_context
from quart import request as current_request
from werkzeug.sansio.response import Response as BaseResponse

from payfacile.platform.config import Settings
from payfacile.platform.errors import CsrfFailed
from payfacile.platform.headers import cookie, header_names
from payfacile.platform.text import _l

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class Csrf:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def cookie_name(self) -> str:
        return "__Host-pf_csrf" if self.settings.production else "pf_csrf"

    def _sign(self, value: str, key: bytes) -> bytes:
        return hmac.new(key, f"csrf:{value}".encode(), hashlib.sha256).digest()

    def token(self, request: Request) -> str:
        """The form token for this client, starting a CSRF cookie if it has none yet: its
        HMAC masked with a new pad on every call."""
        value = getattr(g, "csrf_new", None) or cookie(request, self.cookie_name)
        if not value or len(value) > 64:
            value = secrets.token_urlsafe(24)
            g.csrf_new = value
        return _mask(self._sign(value, self.settings.secret_keys[0]))

    async def check(self, request: Request) -> None:
        """Raise `CsrfFailed` unless this unsafe request proves it came from our own page."""
        if request.method in SAFE_METHODS:
            return
        origin = request.headers.get("Origin")
        # "null" (a sandboxed frame, a data: URL, some redirects) names no site: refused.
        if origin and _origin_host(origin) != (request.host or "").lower():
            raise CsrfFailed(_l("This request came from another site and was refused."))
        cookie = request.cookies.get(self.cookie_name, "")
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            form = await request.form
            sent = form.get(CSRF_FIELD, "")
        digest = _unmask(sent)
        if (
            not cookie
            or digest is None
            or not any(
                hmac.compare_digest(digest, self._sign(cookie, key))
                for key in self.settings.secret_keys
            )
        ):
            raise CsrfFailed(
                _l(
                    "This form expired or was sent from somewhere else. "
                    "Go back, reload the page and try again."
                )
            )

    def rotate(self) -> None:
        """Start a new CSRF cookie with this response (at sign-in)."""
        g.csrf_new = secrets.token_urlsafe(24)

    def set_cookie_if_new(self, response: BaseResponse) -> None:
        value = getattr(g, "csrf_new", None)
        if value:
            response.set_cookie(
                self.cookie_name,
                value,
                path="/",
                secure=cookies_secure(self.settings),
                httponly=True,
                samesite="Lax",
            )


DIGEST_SIZE = hashlib.sha256().digest_size


def _mask(digest: bytes) -> str:
    """A new random pad, then the pad XOR `digest`, in URL-safe base64 (86 characters)."""
    pad = secrets.token_bytes(len(digest))
    return base64.urlsafe_b64encode(pad + _xor(pad, digest)).decode().rstrip("=")


def _unmask(token: str) -> bytes | None:
    """The HMAC a sent token carries: masked (pad + masked), or bare as pages carried it
    before masking; None for anything else (empty, garbled, not ASCII, another length)."""
    if len(token) > 128:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):  # ValueError: not ASCII
        return None
    if len(raw) == 2 * DIGEST_SIZE:
        return _xor(raw[:DIGEST_SIZE], raw[DIGEST_SIZE:])
    if len(raw) == DIGEST_SIZE:
        return raw
    return None


def _xor(left: bytes, right: bytes) -> bytes:
    return (int.from_bytes(left) ^ int.from_bytes(right)).to_bytes(len(left))


def _origin_host(origin: str) -> str | None:
    """The host[:port] an Origin header names; None when it does not parse ("http://[x")."""
    try:
        return (urlsplit(origin).netloc or "").lower()
    except ValueError:
        return None


CSP_BEFORE_NONCE = "default-src 'self'; img-src 'self' data:; style-src 'self' 'nonce-"
CSP_AFTER_NONCE = (
    "'; script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
CONSTANT_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def content_security_policy(nonce: str) -> str:
    return f"{CSP_BEFORE_NONCE}{nonce}{CSP_AFTER_NONCE}"


def apply_security_headers(
    response: Response, *, nonce: str, hsts: bool, signed_in: bool = False
) -> None:
    """The headers every response carries; a signed-in HTML page is also never stored by a
    browser or a proxy (the back button on a shared computer must not show it). `hsts`: in
    production, and on a custom domain served with its certificate (a part sets `g.hsts`)."""
    headers = response.headers
    if signed_in and response.mimetype == "text/html":
        headers["Cache-Control"] = "no-store"
    present = header_names(headers)  # one look, not one miss per header (`headers` module)
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", content_security_policy(nonce))
    for name, value in CONSTANT_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    if hsts and HSTS[0].lower() not in present:
        headers.add(*HSTS)


def cookies_secure(settings: Settings) -> bool:
    """Whether cookies carry Secure: always in production (whose `__Host-` names require
    it), and elsewhere on a request that came over HTTPS."""
    if settings.production:
        return True
    return has_request_context() and forwarded_scheme(current_request, settings) == "https"


def client_address(request: Request, settings: Settings) -> str:
    """The client's address: the peer, or X-Forwarded-For's last untrusted hop when the peer
    is one of `TRUSTED_PROXIES`."""
    peer = request.remote_addr or ""
    if not settings.trusted_proxies or not _trusted(peer, settings):
        return peer
    forwarded = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([hop for hop in forwarded if hop]):
        if not _trusted(hop, settings):
            return hop
    return peer


def forwarded_scheme(request: Request, settings: Settings) -> str:
    if settings.trusted_proxies and _trusted(request.remote_addr or "", settings):
        proto = request.headers.get("X-Forwarded-Proto", "").lower()
        if proto in {"http", "https"}:
            return proto
    return request.scheme


def _trusted(address: str, settings: Settings) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.trusted_proxies)
