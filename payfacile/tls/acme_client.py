"""The ACME conversation with the CA, through the `acme` library (certbot's).

Everything here blocks (the library speaks `requests`): callers run it in a thread
(`asyncio.to_thread`), never on the event loop. Nothing here touches the database or the
shared store; `issuance` moves values between them and these calls.

The library retries a `badNonce` once only; a CA that rejects many nonces (Pebble's
`PEBBLE_WFE_NONCEREJECT`, a busy Boulder) gets `BAD_NONCE_TRIES`. A `rateLimited` answer
becomes `RateLimited` with the CA's `Retry-After`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass
from typing import Any

import josepy as jose
import requests
from acme import challenges, client, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BAD_NONCE_TRIES = 10
NETWORK_TIMEOUT = 30  # seconds, per HTTP request to the CA
USER_AGENT = "PayFacile (+https://github.com/payfacile)"
DEFAULT_RATE_LIMIT_WAIT = dt.timedelta(hours=1)  # a rateLimited answer with no Retry-After


class RateLimited(Exception):
    """The CA said `rateLimited`; try again no sooner than `retry_at`."""

    def __init__(self, detail: str, retry_at: dt.datetime) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_at = retry_at


class OrderFailed(Exception):
    """The CA refused or invalidated the order. `code` is the ACME error code (`dns`,
    `caa`, `unauthorized`, `connection`, …) when it gave one; `detail` its words."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}" if code else detail)
        self.code = code
        self.detail = detail


class _Network(client.ClientNetwork):
    """The library's network, retrying bad nonces and keeping the last answer's headers."""

    last_response: requests.Response | None = None

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = super()._send_request(method, url, *args, **kwargs)
        self.last_response = response
        return response

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, BAD_NONCE_TRIES + 1):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code == "badNonce" and attempt < BAD_NONCE_TRIES:
                    continue
                if error.code == "rateLimited":
                    raise RateLimited(error.detail or str(error), self._retry_at()) from error
                raise
        raise AssertionError("unreachable")

    def _retry_at(self) -> dt.datetime:
        now = dt.datetime.now(dt.UTC)
        answer = self.last_response  # (a Response is falsy when it is an error: test for None)
        header = answer.headers.get("Retry-After") if answer is not None else None
        if header:
            if header.strip().isdigit():
                return now + dt.timedelta(seconds=int(header))
            try:
                return email.utils.parsedate_to_datetime(header).astimezone(dt.UTC)
            except (TypeError, ValueError):
                pass
        return now + DEFAULT_RATE_LIMIT_WAIT


@dataclass(frozen=True)
class Challenge:
    """One HTTP-01 challenge to publish: GET /.well-known/acme-challenge/{token} must answer
    exactly `key_authorization`."""

    token: str
    key_authorization: str
    body: messages.ChallengeBody


@dataclass(frozen=True)
class Issued:
    chain_pem: str
    not_before: dt.datetime
    not_after: dt.datetime
    serial: str


def new_account_key() -> bytes:
    """A new P-256 account key, as PKCS#8 PEM."""
    return _pem(ec.generate_private_key(ec.SECP256R1()))


def new_certificate_key() -> bytes:
    """A new P-256 key for one certificate (never reused), as PKCS#8 PEM."""
    return _pem(ec.generate_private_key(ec.SECP256R1()))


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def csr_for(hostname: str, key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


class Session:
    """One conversation with the CA under the platform's account key."""

    def __init__(
        self, directory_url: str, account_key_pem: bytes, *, ca_bundle: str = "", uri: str = ""
    ) -> None:
        key = serialization.load_pem_private_key(account_key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self.key = jose.JWKEC(key=key)
        account = (
            messages.RegistrationResource(body=messages.Registration(), uri=uri) if uri else None
        )
        self.net = _Network(
            self.key,
            account=account,
            alg=jose.ES256,
            user_agent=USER_AGENT,
            timeout=NETWORK_TIMEOUT,
        )
        if ca_bundle:
            # The library hands `verify_ssl` to requests as `verify=`, which takes a CA file.
            self.net.verify_ssl = ca_bundle  # type: ignore[assignment]
        self.client = client.ClientV2(
            client.ClientV2.get_directory(directory_url, self.net), self.net
        )

    def close(self) -> None:
        self.net.session.close()

    def register(self, email: str) -> str:
        """Register the account key (agreeing to the CA's terms); its URI. A key the CA knows
        already gives the existing account's URI."""
        registration = messages.NewRegistration.from_data(
            email=email or None, terms_of_service_agreed=True
        )
        try:
            resource = self.client.new_account(registration)
        except errors.ConflictError as known:
            uri = str(known.location)
            self.net.account = messages.RegistrationResource(body=messages.Registration(), uri=uri)
            return uri
        return str(resource.uri)

    def offers_profile(self, profile: str) -> bool:
        meta = self.client.directory.meta
        profiles = getattr(meta, "profiles", None) or {}
        return profile in profiles

    def offers_renewal_info(self) -> bool:
        try:
            self.client.directory["renewalInfo"]
        except KeyError:
            return False
        return True

    def new_order(
        self, csr_pem: bytes, *, profile: str = ""
    ) -> tuple[messages.OrderResource, list[Challenge]]:
        """Open an order for the CSR's names; its HTTP-01 challenges, still to publish (an
        authorization the CA already holds as valid needs none)."""
        try:
            order = self.client.new_order(csr_pem, profile=profile or None)
        except messages.Error as error:
            raise OrderFailed(error.code or "", error.detail or str(error)) from error
        found = []
        for authorization in order.authorizations:
            if authorization.body.status == messages.STATUS_VALID:
                continue
            for body in authorization.body.challenges:
                if isinstance(body.chall, challenges.HTTP01):
                    response, validation = body.chall.response_and_validation(self.key)
                    del response
                    found.append(
                        Challenge(
                            token=body.chall.encode("token"),
                            key_authorization=validation,
                            body=body,
                        )
                    )
                    break
            else:
                raise OrderFailed("", "the CA offered no HTTP-01 challenge")
        return order, found

    def finish_order(
        self, order: messages.OrderResource, published: list[Challenge], deadline: dt.datetime
    ) -> Issued:
        """Tell the CA the challenges are published, wait for validation and issuance until
        `deadline` (aware, UTC), and return the certificate chain."""
        local_deadline = deadline.astimezone().replace(tzinfo=None)  # the library's clock
        try:
            for challenge in published:
                self.client.answer_challenge(
                    challenge.body, challenge.body.chall.response(self.key)
                )
            finished = self.client.poll_and_finalize(order, deadline=local_deadline)
        except errors.ValidationError as failed:
            raise OrderFailed(*_validation_problem(failed)) from failed
        except errors.IssuanceError as failed:
            raise OrderFailed(failed.error.code or "", failed.error.detail or "") from failed
        except errors.TimeoutError as late:
            raise OrderFailed("timeout", "the CA did not finish the order in time") from late
        except messages.Error as error:
            raise OrderFailed(error.code or "", error.detail or str(error)) from error
        return parse_chain(finished.fullchain_pem)

    def renewal_time(self, chain_pem: str) -> dt.datetime | None:
        """A moment inside the CA's suggested renewal window (ARI, RFC 9773), or None when
        the CA offers no renewal information (or could not give it now)."""
        if not self.offers_renewal_info():
            return None
        try:
            when, _ = self.client.renewal_time(chain_pem.encode())
        except errors.ARIError:
            return None
        if when is None:
            return None
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _validation_problem(failed: errors.ValidationError) -> tuple[str, str]:
    for authorization in failed.failed_authzrs:
        for body in authorization.body.challenges:
            if body.error is not None:
                return body.error.code or "", body.error.detail or str(body.error)
    return "", "the CA could not validate the domain"


def parse_chain(chain_pem: str) -> Issued:
    leaf = x509.load_pem_x509_certificate(chain_pem.encode())
    return Issued(
        chain_pem=chain_pem,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        serial=format(leaf.serial_number, "x"),
    )
