"""Compressed answers: brotli or gzip, as the client's `Accept-Encoding` allows.

The kernel's last step on every answer (`compress_response`): a complete text body (HTML,
CSS, JavaScript, JSON, SVG, plain text) of `MINIMUM_SIZE` bytes or more is compressed, and
`Vary: Accept-Encoding` says so to caches. Left as they are: PDFs and images (already
compressed), answers that already carry a `Content-Encoding` (the static files' own
precompressed copies), bodies that are not in memory (a file or a stream still streams), and
HEAD or bodiless answers.

Why not an ASGI middleware (Starlette's GZipMiddleware, `asgi-gzip`, `brotli-asgi`): Quart
sends every body as chunks marked `more_body` and then an empty last one, so those take every
answer for a stream: they never skip a small body, drop `Content-Length` on everything (chunked
answers) and compress PDFs and images alike. Here the body is whole, so it is compressed once.

Pages carry the CSRF token masked anew on each render (`security`), so compressing a page
that also reflects what a visitor typed leaks no secret (BREACH).
"""

from __future__ import annotations

import gzip

import brotli
from quart import Request, Response
from quart.wrappers.response import DataBody

from payfacile.platform.headers import has_header

MINIMUM_SIZE = 500
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/plain",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/problem+json",
        "image/svg+xml",
    }
)
ENCODINGS = ("br", "gzip")
# Per answer: fast settings (brotli 4 is smaller than gzip 6 on our pages and as quick).
# Static files are compressed once per process at the strongest settings (`assets`).
BROTLI_QUALITY = 4
GZIP_LEVEL = 6


def negotiate(request: Request) -> str | None:
    """The encoding to answer `request` in: brotli, else gzip, as its `Accept-Encoding`
    allows (a q=0 refuses one); None for none."""
    if not has_header(request.headers, "Accept-Encoding"):
        return None
    return request.accept_encodings.best_match(ENCODINGS)


def compress(data: bytes, encoding: str, *, strongest: bool = False) -> bytes:
    if encoding == "br":
        quality = 11 if strongest else BROTLI_QUALITY
        return bytes(brotli.compress(data, mode=brotli.MODE_TEXT, quality=quality))
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9 if strongest else GZIP_LEVEL, mtime=0)
    raise ValueError(f"unknown encoding {encoding!r}")


def compressible(response: Response) -> bool:
    return response.mimetype in COMPRESSIBLE and not has_header(
        response.headers, "Content-Encoding"
    )


async def compress_response(response: Response, request: Request) -> Response:
    """Compress `response` for `request` when that helps (see the module's doc). A body
    too small to compress is never compressed, whoever asks: it varies by nothing."""
    body = response.response
    if not isinstance(body, DataBody) or len(body.data) < MINIMUM_SIZE:
        return response
    if not compressible(response):
        return response
    response.vary.add("Accept-Encoding")
    encoding = negotiate(request)
    if encoding is None or request.method == "HEAD" or response.status_code in (204, 304):
        return response
    data = await response.get_data(as_text=False)
    response.set_data(compress(data, encoding))
    response.headers["Content-Encoding"] = encoding
    etag, weak = response.get_etag()
    if etag and not weak:  # the same entity, other bytes: a strong validator no longer holds
        response.set_etag(etag, weak=True)
    return response
