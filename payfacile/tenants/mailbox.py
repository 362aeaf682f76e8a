"""The development mailbox: the emails `Mailer` wrote to the Maildir, read back for people.

Outside production, with no SMTP server set, every email lands in `{DATA_DIR}/maildir`; the
central host shows them at /dev/mailbox so that a first run can follow its links. Reading
happens in a thread: a Maildir is files on disk.
"""

from __future__ import annotations

import asyncio
import mailbox
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from payfacile.platform.config import Settings
from payfacile.platform.errors import NotFound
from payfacile.platform.mail import Mailer
from payfacile.platform.text import _l

MAX_LISTED = 200
KEY = re.compile(r"^[\w.,:=-]{1,200}$")
DELIVERED = re.compile(r"^(\d+)\.M(\d+)")
URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


@dataclass(frozen=True)
class Letter:
    key: str
    subject: str
    sender: str
    to: str
    reply_to: str
    sent_at: datetime | None
    text: str = ""


def available(settings: Settings) -> bool:
    """Only outside production: in production the page is a 404."""
    return not settings.production


async def letters(settings: Settings) -> list[Letter]:
    """The newest emails first (at most `MAX_LISTED`), without their bodies."""
    return await asyncio.to_thread(_read_all, Mailer(settings).maildir_path)


async def letter(settings: Settings, key: str) -> Letter:
    """One email with its plain-text body; an unknown key is a 404."""
    if not KEY.match(key):
        raise NotFound(_l("There is no such email in the mailbox."))
    found = await asyncio.to_thread(_read_one, Mailer(settings).maildir_path, key)
    if found is None:
        raise NotFound(_l("There is no such email in the mailbox."))
    return found


def with_links(text: str) -> list[tuple[str, bool]]:
    """`text` in pieces, each (piece, is_a_link), so a template can make the links clickable
    and escape everything else."""
    pieces: list[tuple[str, bool]] = []
    start = 0
    for match in URL.finditer(text):
        pieces.append((text[start : match.start()], False))
        pieces.append((match.group(0), True))
        start = match.end()
    pieces.append((text[start:], False))
    return [piece for piece in pieces if piece[0]]


def _box(path: str) -> mailbox.Maildir:
    return mailbox.Maildir(path, factory=None, create=False)


def _read_all(path: str) -> list[Letter]:
    try:
        box = _box(path)
        keys = sorted(box.keys(), key=_delivered, reverse=True)[:MAX_LISTED]
    except (FileNotFoundError, mailbox.NoSuchMailboxError):
        return []  # nothing sent yet
    found = []
    for key in keys:
        try:
            found.append(_letter(key, _parse(box.get_bytes(key), headers_only=True)))
        except (FileNotFoundError, KeyError):
            continue  # deleted while we read
    return found


def _delivered(key: str) -> tuple[int, int, str]:
    """When the Maildir took the message, from its file name (`seconds.Mmicroseconds…`)."""
    match = DELIVERED.match(key)
    return (int(match[1]), int(match[2]), key) if match else (0, 0, key)


def _read_one(path: str, key: str) -> Letter | None:
    try:
        message = _parse(_box(path).get_bytes(key))
    except (FileNotFoundError, KeyError, mailbox.NoSuchMailboxError):
        return None
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return _letter(key, message, text=text)


def _parse(data: bytes, *, headers_only: bool = False) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data, headersonly=headers_only)
    assert isinstance(message, EmailMessage)
    return message


def _letter(key: str, message: EmailMessage, *, text: str = "") -> Letter:
    try:
        sent_at = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        sent_at = None
    return Letter(
        key=key,
        subject=str(message["Subject"] or ""),
        sender=str(message["From"] or ""),
        to=str(message["To"] or ""),
        reply_to=str(message["Reply-To"] or ""),
        sent_at=sent_at,
        text=text,
    )
