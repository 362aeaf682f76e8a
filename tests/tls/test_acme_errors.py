"""The CA's refusals that Pebble cannot be made to give here (Debian's Pebble 2.4 has no rate
limits): a small real HTTP server on the loopback answers as an ACME server would — a
directory, nonces, and a problem document for each POST — and the real `acme` library
talks to it through our session.

- `rateLimited` with `Retry-After` → `RateLimited` carrying that moment;
- `badNonce` several times in a row → retried until a good one (the library alone gives up
  after its second try)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from payfacile.tls import acme_client
from payfacile.tls.acme_client import RateLimited


class FakeCa(BaseHTTPRequestHandler):
    """Refuses the first `refusals` POSTs with `problem` (and `Retry-After`), then accepts."""

    problem = "badNonce"
    refusals = 0
    retry_after = ""
    posts = 0

    def log_message(self, *args: object) -> None:
        pass

    def _base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "newNonce": f"{self._base()}/nonce",
                "newAccount": f"{self._base()}/account",
                "newOrder": f"{self._base()}/order",
            }
        ).encode()
        self._answer(200, body, "application/json")

    def do_HEAD(self) -> None:
        self._answer(200, b"", "text/plain")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).posts += 1
        if type(self).posts <= type(self).refusals:
            problem = {"type": f"urn:ietf:params:acme:error:{self.problem}", "detail": "no"}
            extra = {"Retry-After": self.retry_after} if self.retry_after else {}
            self._answer(
                429 if self.problem == "rateLimited" else 400,
                json.dumps(problem).encode(),
                "application/problem+json",
                extra,
            )
            return
        account = json.dumps({"status": "valid", "contact": []}).encode()
        self._answer(201, account, "application/json", {"Location": f"{self._base()}/acct/1"})

    def _answer(
        self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Replay-Nonce", f"nonce-{type(self).posts}-{threading.get_ident()}")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def ca() -> Iterator[type[FakeCa]]:
    handler = type("Ca", (FakeCa,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.directory = f"http://127.0.0.1:{server.server_address[1]}/dir"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


def session(ca: type[FakeCa]) -> acme_client.Session:
    return acme_client.Session(ca.directory, acme_client.new_account_key())  # type: ignore[attr-defined]


def test_rate_limited_carries_the_cas_retry_after(ca: type[FakeCa]) -> None:
    ca.problem, ca.refusals, ca.retry_after = "rateLimited", 100, "120"
    before = dt.datetime.now(dt.UTC)
    with pytest.raises(RateLimited) as limited:
        session(ca).register("")
    wait = limited.value.retry_at - before
    assert dt.timedelta(seconds=119) <= wait <= dt.timedelta(seconds=125)
    assert ca.posts == 1  # a rate limit is not retried at once


def test_several_bad_nonces_in_a_row_are_retried(ca: type[FakeCa]) -> None:
    ca.problem, ca.refusals = "badNonce", 4  # the library alone would stop after the 2nd
    assert session(ca).register("").endswith("/acct/1")
    assert ca.posts == 5


def test_bad_nonces_without_end_give_up(ca: type[FakeCa]) -> None:
    ca.problem, ca.refusals = "badNonce", 1000
    with pytest.raises(acme_client.messages.Error):
        session(ca).register("")
    assert ca.posts == acme_client.BAD_NONCE_TRIES
