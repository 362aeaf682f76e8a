"""Transactional email: rendered into an outbox row at the event, sent later by a job.

`queue_email` writes an `OutboxEmail` in the caller's transaction, so an email exists if and
only if the event that causes it was committed. `Mailer.send` delivers one row over SMTP
(aiosmtplib) or, with no SMTP configured, into the Maildir under the data directory.
"""

from __future__ import annotations

import asyncio
import mailbox
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from payfacile.platform.brand import PLATFORM, Brand
from payfacile.platform.config import Settings
from payfacile.platform.i18n import LANGUAGES, language_of, translations
from payfacile.platform.models import OutboxEmail

_environment: Environment | None = None


def email_templates() -> Environment:
    global _environment
    if _environment is None:
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
    catalog = translations(language)
    environment.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    subject = environment.get_template(f"email/{template}.subject.txt").render(context).strip()
    text = environment.get_template(f"email/{template}.txt").render(context)
    html = environment.get_template(f"email/{template}.html").render(subject=subject, **context)
    return " ".join(subject.split()), text, html


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
) -> OutboxEmail:
    """Render `email/{template}.*` under `brand` and write it to the outbox, due now, for
    the store `store_id` (none: the platform's own). Replies go to `reply_to`, else to the
    brand's support address; the language is `language`, else the brand's.

    Call it inside the transaction of the event that causes the email.
    """
    language = language if language in LANGUAGES else language_of(brand.language)
    subject, text, html = _render(
        template, language, {"brand": brand, "language": language, **context}
    )
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
        next_attempt_at=datetime.now(UTC),
    )


def build_message(row: OutboxEmail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = row.from_address
    message["To"] = row.to_address
    if row.reply_to:
        message["Reply-To"] = row.reply_to
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at or datetime.now(UTC))
    message["Message-ID"] = row.message_id or make_msgid()
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.text_body)
    if row.html_body:
        message.add_alternative(row.html_body, subtype="html")
    return message


class Mailer:
    """Delivers outbox rows: SMTP when `SMTP_URL` is set, else the Maildir."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def maildir_path(self) -> str:
        return str(self.settings.data_dir / "maildir")

    async def send(self, row: OutboxEmail) -> None:
        message = build_message(row)
        if self.settings.smtp_url:
            await aiosmtplib.send(message, **self._smtp_options())
        else:
            await asyncio.to_thread(self._deliver_to_maildir, message)

    def _deliver_to_maildir(self, message: EmailMessage) -> None:
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
