"""What the logs may show of a request's path: never an emailed token, never a control
character.

An emailed link carries its token as a path segment (`/portal/sign-in/<token>`): any route
whose URL has a `<token>` variable is such a link, so its token is written as `[redacted]`
in the access log and in the app's own log lines. Control characters (a decoded CR/LF would
start a forged line, an escape sequence would recolour a terminal) are written as `\\xNN`.
"""

from __future__ import annotations

import logging
import re

from quart import Quart

REDACTED = "[redacted]"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def secret_paths(app: Quart) -> re.Pattern[str] | None:
    """A pattern of every path of `app` whose last segment is a token."""
    prefixes = sorted(
        {
            rule.rule.split("<token>", 1)[0]
            for rule in app.url_map.iter_rules()
            if "token" in rule.arguments
        },
        key=len,
        reverse=True,
    )
    if not prefixes:
        return None
    return re.compile("(" + "|".join(re.escape(prefix) for prefix in prefixes) + r")[^/?#\s]+")


def loggable_path(path: str, secrets: re.Pattern[str] | None) -> str:
    """`path` as a log line may show it: tokens redacted, control characters escaped."""
    if secrets is not None:
        path = secrets.sub(lambda found: found.group(1) + REDACTED, path)
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", path)


class AccessLogFilter(logging.Filter):
    """Rewrites the path of Uvicorn's access log records (args: client, method, path,
    HTTP version, status) before any handler formats them."""

    def __init__(self, secrets: re.Pattern[str] | None) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.args = (client, method, loggable_path(str(path), self.secrets), version, status)
        return True


def redact_access_log(app: Quart) -> None:
    """Install the filter on Uvicorn's access logger (after Uvicorn configured logging)."""
    access = logging.getLogger("uvicorn.access")
    for found in access.filters:
        if isinstance(found, AccessLogFilter):
            access.removeFilter(found)
    access.addFilter(AccessLogFilter(secret_paths(app)))
