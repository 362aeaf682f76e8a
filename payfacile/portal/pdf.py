"""Invoice PDFs: rendered once from the frozen snapshot with xhtml2pdf, then stored and served.

An invoice is due work from its issue: the `invoice_pdf` job kind renders and stores its PDF
in the background. A download that comes first renders it then; either way it is stored once.

xhtml2pdf is synchronous and CPU-bound, so Jinja and the PDF both run in a worker thread. It
may read nothing from the network or the disk beyond what `_resource` hands it: the package's
static files and the logo frozen with the invoice. Its own policy refuses anything else as well.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import logging
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from babel import Locale
from jinja2 import Environment, FileSystemLoader, select_autoescape
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from payfacile.platform import i18n
from payfacile.platform.brand import safe_color
from payfacile.platform.errors import ServiceUnavailable
from payfacile.platform.jobs import JobKind, Runtime
from payfacile.platform.mail import AttachedFile
from payfacile.platform.text import _l
from payfacile.platform.zones import UTC_ZONE
from payfacile.portal.models import Invoice
from payfacile.tenants.models import Store, StoreLogo
from payfacile.tenants.scope import across_stores, scoped

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent.parent  # the package: its templates and static
STATIC = PACKAGE / "static"
TEMPLATE = "portal/invoice_pdf.html"
LOGO_URI = "payfacile:logo"
STATIC_PREFIX = "payfacile:static/"
REFUSED = "data:,"  # what a refused resource becomes: empty, never a fetch
# xhtml2pdf is pure Python: a render in a thread still holds the GIL most of the time, so a
# burst of first downloads would starve the event loop. Two at a time per process.
RENDERS_AT_ONCE = 2
_renders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
POLICY = ResourceAccessPolicy.server(
    base_dir=STATIC, allow_remote=False, max_resources=10, max_render_seconds=30
)


@dataclass(frozen=True)
class Branding:
    """The store's colour and logo, as they were when the invoice was issued."""

    color: str
    logo: bytes | None = None
    logo_type: str = ""

    def frozen(self) -> dict[str, str]:
        """What the snapshot keeps (the logo's bytes go in `Invoice.brand_logo`)."""
        return {"color": self.color, "logo_type": self.logo_type if self.logo else ""}


async def branding_at_issue(store: Store) -> Branding:
    """The store's branding now, to freeze into an invoice being issued."""
    color = safe_color(store.brand_color)
    logo = await scoped(store).query(StoreLogo).first()
    if logo is None:
        return Branding(color=color)
    return Branding(color=color, logo=bytes(logo.data), logo_type=logo.content_type)


async def branding_of(invoice: Invoice, store: Store) -> Branding:
    """The branding frozen with the invoice; an invoice issued before branding was frozen
    takes the store's as it is now."""
    frozen = invoice.snapshot.get("branding")
    if frozen is None:
        return await branding_at_issue(store)
    logo = bytes(invoice.brand_logo) if invoice.brand_logo and frozen["logo_type"] else None
    return Branding(color=safe_color(frozen["color"]), logo=logo, logo_type=frozen["logo_type"])


async def invoice_pdf(store: Store, invoice: Invoice) -> tuple[bytes, str]:
    """The invoice's PDF and ETag: the stored bytes, or rendered now and stored for good.

    The job and a first download, or two first downloads, may both render; the first to
    store wins and all serve it, so an invoice only ever has one PDF and one ETag.
    """
    if invoice.pdf is not None and invoice.etag:
        return bytes(invoice.pdf), invoice.etag
    branding = await branding_of(invoice, store)
    loop = asyncio.get_running_loop()
    async with _renders.setdefault(loop, asyncio.Semaphore(RENDERS_AT_ONCE)):
        pdf = await asyncio.to_thread(
            render_invoice,
            invoice.snapshot,
            number=invoice.number,
            issued_at=invoice.issued_at,
            branding=branding,
            zone=invoice.snapshot.get("time_zone") or store.zone,  # the store's, at issue
        )
    etag = hashlib.sha256(pdf).hexdigest()[:32]
    scope = scoped(store)
    stored = (
        await scope.query(Invoice)
        .filter(id=invoice.id, pdf__isnull=True)
        .update(pdf=pdf, etag=etag, next_attempt_at=None, done_at=datetime.now(UTC))
    )
    if not stored:
        winner = await scope.query(Invoice).only("id", "pdf", "etag").get(id=invoice.id)
        return bytes(winner.pdf or b""), winner.etag
    return pdf, etag


async def _render_issued(_runtime: Runtime, invoice: Invoice) -> None:
    await invoice_pdf(await Store.get(id=invoice.store_id), invoice)


INVOICE_PDF = JobKind(
    name="invoice_pdf",
    rows=functools.partial(across_stores, Invoice, reason="scheduler"),
    handler=_render_issued,
    lease=timedelta(minutes=2),  # a render is bounded by the policy's 30 s
    max_attempts=10,  # a download still renders it if every attempt failed
)


INVOICE_ATTACHMENT = "invoice_pdf"


async def invoice_attachment(store_id: int | None, ref: str) -> AttachedFile:
    """An invoice email's file: the invoice's stored PDF, rendered first if the job has not
    yet (as a download does)."""
    store = await Store.get(id=store_id)
    invoice = await scoped(store).get(Invoice, id=int(ref))
    pdf, _etag = await invoice_pdf(store, invoice)
    return AttachedFile(filename=f"{invoice.number}.pdf", content_type="application/pdf", data=pdf)


def render_invoice(
    snapshot: dict[str, Any],
    *,
    number: str,
    issued_at: datetime,
    branding: Branding,
    zone: str = UTC_ZONE,
) -> bytes:
    """The PDF of an issued invoice, from its snapshot alone, with its dates on the clock of
    `zone`. Blocking: call in a thread."""
    # The language frozen at issue (the buyer's, else the store's); before it was frozen,
    # invoices were in the store's.
    language = i18n.language_of(snapshot.get("language") or snapshot.get("locale", ""))
    html = (
        _environment(language)
        .get_template(TEMPLATE)
        .render(
            invoice=snapshot,
            number=number,
            issued_at=issued_at,
            time_zone=zone,
            color=branding.color,
            has_logo=branding.logo is not None,
            logo_uri=LOGO_URI,
            language=language,
        )
    )
    return html_to_pdf(html, branding)


def html_to_pdf(html: str, branding: Branding) -> bytes:
    out = io.BytesIO()
    result = pisa.CreatePDF(
        html,
        dest=out,
        link_callback=functools.partial(_resource, branding=branding),
        resource_policy=POLICY,
        encoding="utf-8",
    )
    if result.err:
        log.error("invoice PDF failed to render: %s errors", result.err)
        raise ServiceUnavailable(_l("The invoice could not be produced. Try again in a moment."))
    return out.getvalue()


def _resource(uri: str, _relative: str | None, *, branding: Branding) -> str:
    """xhtml2pdf's only way to reach a file: the logo, or one of the package's static files."""
    if uri == LOGO_URI and branding.logo is not None:
        encoded = base64.b64encode(branding.logo).decode()
        return f"data:{branding.logo_type};base64,{encoded}"
    if isinstance(uri, str) and uri.startswith(STATIC_PREFIX):
        path = (STATIC / uri.removeprefix(STATIC_PREFIX)).resolve()
        if path.is_relative_to(STATIC) and path.is_file():
            return str(path)
    log.warning("invoice PDF: refused the resource %.100r", uri)
    return REFUSED


@functools.cache
def _environment(language: str) -> Environment:
    """One Jinja environment per language, so that threads never share a switched catalog."""
    env = Environment(
        loader=FileSystemLoader(PACKAGE / "templates"),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
    )
    i18n.install_gettext(env, language)
    env.filters.update(
        money=lambda amount, currency: _pdf_text(i18n.money(amount, currency, language)),
        date=lambda value, zone: i18n.date(value, language, zone),
        rate=lambda basis_points: _pdf_text(i18n.rate(basis_points, language)),
        country=lambda code: Locale.parse(language).territories.get(code, code) if code else "",
    )
    return env


def _pdf_text(text: str) -> str:
    """The PDF's standard fonts have no narrow no-break space (French digit groups)."""
    return text.replace("\u202f", "\u00a0")
