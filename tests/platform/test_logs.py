"""What a running server's logs show of request paths: no emailed token, no forged line."""

from __future__ import annotations

import os
from pathlib import Path

from quart import Quart

from payfacile.platform.config import Settings
from tests.platform.test_instances import server, status
from tests.test_cli import create_store

TOKEN = "Zx9-very_secret_token_value_0123456789abcdef"


def serve_with_access_log(settings: Settings, cwd: Path, paths: list[str]) -> str:
    """Run `payfacile serve` with its access log on, ask for `paths`, stop it, and return
    everything it printed."""
    with server(settings, cwd, access_log=True) as (port, _process):
        for path in paths:
            status(port, "acme.payfacile.localhost", path)
    return (settings.data_dir / f"server-{port}.log").read_text()


def test_the_access_log_shows_no_token_and_no_forged_line(
    settings: Settings, tmp_path: Path
) -> None:
    create_store(settings, "acme")
    paths = [
        f"/portal/sign-in/{TOKEN}",
        f"/portal/invitation/{TOKEN}?next=/portal/",
        f"/portal/reset-password/{TOKEN}",
        f"/portal/email/{TOKEN}",
        f"/account/set-password/{TOKEN}",
        f"/admin/reset-password/{TOKEN}",
        "/portal/orders%0d%0aINFO:%20127.0.0.1:1%20-%20%22GET%20/forged%20HTTP/1.1%22%20200",
    ]
    printed = serve_with_access_log(settings, tmp_path, paths)
    assert TOKEN not in printed
    for path in ("/portal/sign-in/", "/portal/invitation/", "/account/set-password/"):
        assert f"{path}[redacted]" in printed, printed
    assert "/portal/invitation/[redacted]?next=/portal/" in printed
    lines = printed.splitlines()
    assert not [line for line in lines if "/forged" in line and "/portal/orders" not in line]
    assert all(line.isprintable() for line in lines)


def test_decoded_control_characters_are_escaped(app: Quart) -> None:
    """The app's own log lines (an unexpected error names the decoded path) escape them."""
    from payfacile.platform.logs import loggable_path, secret_paths

    secrets = secret_paths(app)
    line = loggable_path(f"/portal/sign-in/{TOKEN}\r\nFORGED \x1b[31m", secrets)
    assert line == "/portal/sign-in/[redacted]\\x0d\\x0aFORGED \\x1b[31m"
    assert os.linesep not in line
