"""Transactional email: rendered into an outbox row at the event, sent later by a job.

`queue_email` writes an `OutboxEmail` in the caller's transaction, so an email exists if and
only if the event that causes it was committed. `Mailer.send` delivers one row over SMTP
(aiosmtplib) or, with no SMTP configured, into the Maildir under the data directory.

Links that act for their holder (sign-in, invitation, reset) are `sealed`: the stored bodies
name them by a marker, and the links themselves are kept encrypted (`crypto.seal`) only until
the email is sent or given up; so a reader of the database never finds a usable link.

Files an email carries (an invoice's PDF) are not stored with it: the row names each by an
`Attachment` (a kind and a reference), and the part that owns the kind registers a resolver
(`JobRegistry.add_attachment_kind`) that the `Mailer` calls at send time for the bytes.
"""

from __future__ import annotations

import asyncio
import json
import mailbox
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from markupsafe import escape

from payfacile.platform import crypto
from payfacile.platform.brand import PLATFORM, Brand
from payfacile.platform.config import Settings
from payfacile.platform.i18n import LANGUAGES, install_gettext, language_of
from payfacile.platform.models import OutboxEmail

if TYPE_CHECKING:
    from jinja2 import Environment

_environment: Environment | None = None


@dataclass(frozen=True)
class Attachment:
    """A file named by reference: `kind` picks the resolver, `ref` is what it looks up."""

    kind: str
    ref: str


@dataclass(frozen=True)
class AttachedFile:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes


# The file of one reference, for the store the email is from (None: the platform's own).
# It may render: anything blocking runs in a thread.
AttachmentResolver = Callable[[int | None, str], Awaitable[AttachedFile]]


def email_templates() -> Environment:
    global _environment
    if _environment is None:
        # Imported here, not above: a command that queues no email does not load Jinja.
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        environment = Environment(
            loader=PackageLoader("payfacile", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _environment = environment
    return _environment


def _render(template: str, language: str, context: dict[str, Any]) -> tuple[str, str, str]:
    environment = email_templates()
    install_gettext(environment, language)
    subject = environment.get_template(f"email/{template}.subject.txt").render(context).strip()
    text = environment.get_template(f"email/{template}.txt").render(context)
    html = environment.get_template(f"email/{template}.html").render(subject=subject, **context)
    # One line; a no-break space (French punctuation) is not a line's space, and stays.
    return re.sub(r"[ \t\r\n]+", " ", subject).strip(), text, html


async def queue_email(
    settings: Settings,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    brand: Brand = PLATFORM,
    store_id: int | None = None,
    language: str | None = None,
    reply_to: str | None = None,
    sealed: Mapping[str, str] | None = None,
    attachments: Sequence[Attachment] = (),
) -> OutboxEmail:
    """Render `email/{template}.*` under `brand` and write it to the outbox, due now, for
    the store `store_id` (none: the platform's own). Replies go to `reply_to`, else to the
    brand's support address; the language is `language`, else the brand's. `sealed` are
    template values (links holding a token) that are never stored in clear; `attachments`
    are resolved into files when the email is sent.

    Call it inside the transaction of the event that causes the email.
    """
    language = language if language in LANGUAGES else language_of(brand.language)
    nonce = secrets.token_hex(8)
    markers = {key: f"pf-sealed-{nonce}-{key}" for key in sealed or {}}
    subject, text, html = _render(
        template, language, {"brand": brand, "language": language, **context, **markers}
    )
    locked = {marker: sealed[key] for key, marker in markers.items()} if sealed else {}
    sender = formataddr((brand.name, settings.mail_from))
    domain = settings.mail_from.rpartition("@")[2] or settings.platform_domain
    return await OutboxEmail.create(
        store_id=store_id,
        to_address=to,
        subject=subject,
        from_address=sender,
        reply_to=reply_to or brand.support_email,
        text_body=text,
        html_body=html,
        message_id=make_msgid(domain=domain),
        sealed=crypto.seal(settings, SEALED, json.dumps(locked).encode()) if locked else "",
        attachments=json.dumps([[a.kind, a.ref] for a in attachments]) if attachments else "",
        next_attempt_at=datetime.now(UTC),
    )


SEALED = "outbox-links"
SEALED_LINKS = crypto.SealedColumn(
    name="links of emails not yet sent", rows=OutboxEmail.all, field="sealed", purpose=SEALED
)


def with_links(row: OutboxEmail, links: Mapping[str, str]) -> tuple[str, str]:
    """The row's text and HTML bodies, each sealed link's marker replaced by the link."""
    text, html = row.text_body, row.html_body
    for marker, link in links.items():
        text = text.replace(marker, link)
        html = html.replace(marker, str(escape(link)))
    return text, html


def attachments_of(row: OutboxEmail) -> list[Attachment]:
    return [Attachment(kind, ref) for kind, ref in json.loads(row.attachments or "[]")]


def build_message(
    row: OutboxEmail,
    links: Mapping[str, str] | None = None,
    files: Sequence[AttachedFile] = (),
) -> EmailMessage:
    """The message for `row`, its sealed links (`Mailer.links`) put back, carrying `files`."""
    text, html = with_links(row, links or {})
    message = EmailMessage()
    message["From"] = row.from_address
    message["To"] = row.to_address
    if row.reply_to:
        message["Reply-To"] = row.reply_to
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at or datetime.now(UTC))
    message["Message-ID"] = row.message_id or make_msgid()
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for file in files:
        maintype, _, subtype = file.content_type.partition("/")
        message.add_attachment(
            file.data, maintype=maintype, subtype=subtype, filename=file.filename
        )
    return message


class Mailer:
    """Delivers outbox rows: SMTP when `SMTP_URL` is set, else the Maildir. `resolvers`
    turn the rows' attachments into files, by kind."""

    def __init__(
        self, settings: Settings, resolvers: Mapping[str, AttachmentResolver] | None = None
    ) -> None:
        self.settings = settings
        self.resolvers = resolvers if resolvers is not None else {}

    @property
    def maildir_path(self) -> str:
        return str(self.settings.data_dir / "maildir")

    def links(self, row: OutboxEmail) -> dict[str, str]:
        """The row's sealed links by marker; a `ValueError` if no current key opens them."""
        if not row.sealed:
            return {}
        try:
            opened: dict[str, str] = json.loads(crypto.unseal(self.settings, SEALED, row.sealed))
        except crypto.InvalidToken as error:
            raise ValueError(
                "the links of this email were sealed with a key no longer in SECRET_KEY"
            ) from error
        return opened

    async def files(self, row: OutboxEmail) -> list[AttachedFile]:
        """The row's attachments as files; a `ValueError` for a kind nothing resolves."""
        found = []
        for attachment in attachments_of(row):
            resolve = self.resolvers.get(attachment.kind)
            if resolve is None:
                raise ValueError(f"no resolver for attachments of kind {attachment.kind!r}")
            found.append(await resolve(row.store_id, attachment.ref))
        return found

    async def send(self, row: OutboxEmail) -> None:
        message = build_message(row, self.links(row), await self.files(row))
        if self.settings.smtp_url:
            import aiosmtplib

            await aiosmtplib.send(message, **self._smtp_options())
        else:
            await asyncio.to_thread(self._deliver_to_maildir, message)

    def _deliver_to_maildir(self, message: EmailMessage) -> None:
        # The data directory may not exist yet in a worker that never opened SQLite.
        self.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        box = mailbox.Maildir(self.maildir_path, create=True)
        box.add(message)

    def _smtp_options(self) -> dict[str, Any]:
        url = urlsplit(self.settings.smtp_url)
        implicit_tls = url.scheme == "smtps"
        if url.scheme not in {"smtp", "smtps"}:
            raise ValueError("PAYFACILE_SMTP_URL must start with smtp:// or smtps://")
        options: dict[str, Any] = {
            "hostname": url.hostname or "localhost",
            "port": url.port or (465 if implicit_tls else 25),
            "use_tls": implicit_tls,
            "timeout": self.settings.smtp_timeout,
            # Named here: aiosmtplib would otherwise ask reverse DNS (getfqdn) per connection.
            "local_hostname": self.settings.platform_domain,
        }
        if url.username:
            options["username"] = unquote(url.username)
            options["password"] = unquote(url.password or "")
        return options
