"""Static files under content-hashed names, cached by browsers for a year.

Each file of the static folder is read once per process; its name in pages carries the first
hex digits of its SHA-256 (`app.css` → `/static/app.3f9a1c2b4d5e.css`, `static_url()` in
templates), which answers with `Cache-Control: public, max-age=31536000, immutable`: a new
file is a new address, so nothing ever has to be revalidated. The plain name (`/static/app.css`,
what pages linked before, bookmarks) still answers, to be revalidated on each use (`no-cache`,
the ETag gives a 304). A hashed name this process does not hold (a page of another release,
during a rolling deploy) is redirected to the current file. Text files are also held
compressed (brotli 11, gzip 9), made at first demand.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from quart import Quart, Response, request
from werkzeug.exceptions import NotFound

from payfacile.platform.compression import COMPRESSIBLE, compress, negotiate

PREFIX = "/static/"
HASH_DIGITS = 12
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_HASHED = re.compile(rf"^(?P<stem>.+)\.[0-9a-f]{{{HASH_DIGITS}}}(?P<suffix>\.[^./]+)?$")


@dataclass
class Asset:
    name: str  # "app.css", relative to the folder, with forward slashes
    data: bytes
    digest: str = field(init=False)
    hashed_name: str = field(init=False)
    mimetype: str = field(init=False)
    _encoded: dict[str, bytes] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.digest = hashlib.sha256(self.data).hexdigest()[:HASH_DIGITS]
        path = PurePosixPath(self.name)
        if path.suffix:
            hashed = f"{path.stem}.{self.digest}{path.suffix}"
        else:
            hashed = f"{path.name}.{self.digest}"
        self.hashed_name = str(path.with_name(hashed))
        self.mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"

    @property
    def compressible(self) -> bool:
        return self.mimetype in COMPRESSIBLE

    def encoded(self, encoding: str) -> bytes:
        """The file's bytes in `encoding`, compressed at the strongest setting once."""
        if encoding not in self._encoded:
            self._encoded[encoding] = compress(self.data, encoding, strongest=True)
        return self._encoded[encoding]


class Assets:
    """The files of one static folder, read when this is made."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._by_name: dict[str, Asset] = {}
        self._by_hashed: dict[str, Asset] = {}
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                asset = Asset(relative.as_posix(), path.read_bytes())
                self._by_name[asset.name] = asset
                self._by_hashed[asset.hashed_name] = asset

    def url(self, name: str) -> str:
        """The content-hashed address of the file `name` ("app.css")."""
        asset = self._by_name.get(name)
        if asset is None:
            raise LookupError(f"no static file {name!r} in {self.folder}")
        return PREFIX + asset.hashed_name

    def serve(self, filename: str) -> Response:
        """The answer to GET /static/<filename> for the current request."""
        asset = self._by_hashed.get(filename)
        cache_control = IMMUTABLE
        if asset is None:
            asset = self._by_name.get(filename)
            cache_control = REVALIDATE
        if asset is None:
            return self._stale(filename)
        encoding = negotiate(request) if asset.compressible else None
        if request.if_none_match.contains_weak(asset.digest):
            response = Response(status=304)
        elif encoding is None:
            response = Response(asset.data, mimetype=asset.mimetype)
        else:
            response = Response(asset.encoded(encoding), mimetype=asset.mimetype)
            response.headers["Content-Encoding"] = encoding
        # Weak: the plain and compressed bytes are one file, which one validator names.
        response.set_etag(asset.digest, weak=True)
        response.headers["Cache-Control"] = cache_control
        if asset.compressible:
            response.vary.add("Accept-Encoding")
        return response

    def _stale(self, filename: str) -> Response:
        """A hashed name of a file this process holds under another hash: redirected to
        the current one (not cached); anything else is a 404."""
        found = _HASHED.match(filename)
        plain = found and found["stem"] + (found["suffix"] or "")
        if not plain or plain not in self._by_name:
            raise NotFound()
        response = Response(status=302, headers={"Location": self.url(plain)})
        response.headers["Cache-Control"] = REVALIDATE
        return response


@functools.cache
def assets_for(folder: Path) -> Assets:
    """The folder's files, read once per process however many apps are built."""
    return Assets(folder)


def install_assets(app: Quart, folder: Path) -> Assets:
    """Serve `folder` under /static/ (the `static` endpoint, so `url_for("static", …)` still
    gives the plain address) and give templates `static_url(name)`."""
    assets = assets_for(folder.resolve())

    async def static(filename: str) -> Response:
        return assets.serve(filename)

    app.add_url_rule(PREFIX + "<path:filename>", "static", static, methods=["GET"])
    app.jinja_env.globals["static_url"] = assets.url
    return assets
