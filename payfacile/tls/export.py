"""`payfacile certs export DIR`: the certificates, for a TLS terminator in front of the
platform (HAProxy, nginx) instead of `serve --https-port`.

Each serving custom domain's newest certificate goes to `DIR/{hostname}.pem` (the chain,
then its key: HAProxy's one-file form), and `DIR/crt-list.txt` names them with their SNI
names (HAProxy's `crt-list`). The directory is made 0700 and each file 0600: these are the
only plaintext keys the platform ever writes, at the operator's request. Each file is
written beside its final name and renamed, so a terminator reloading meanwhile reads whole
files; a domain no longer served loses its file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from payfacile.platform.config import Settings, make_private_dir
from payfacile.tls.sni import opened, served

CRT_LIST = "crt-list.txt"


def _write_private(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(partial, path)


async def bundles(settings: Settings) -> dict[str, bytes]:
    """Each serving custom domain's newest certificate, as `serve --https-port` serves it:
    its chain, then its key, as PEM."""
    newest = await served(None, reason="platform admin")
    found = {
        hostname: chain_pem.encode().rstrip(b"\n") + b"\n" + key_pem
        async for hostname, _, chain_pem, key_pem in opened(
            settings, list(newest.values()), reason="platform admin"
        )
    }
    return dict(sorted(found.items()))


def write(directory: Path, found: dict[str, bytes], progress: Callable[[str], None]) -> None:
    """Write `found` (from `bundles`) and the crt-list into `directory`, saying each."""
    make_private_dir(directory)
    lines = []
    for done, (hostname, bundle) in enumerate(found.items(), start=1):
        path = directory / f"{hostname}.pem"
        _write_private(path, bundle)
        lines.append(f"{path} {hostname}\n")
        progress(f"  {done}/{len(found)} {hostname}")
    _write_private(directory / CRT_LIST, "".join(lines).encode())
    for stale in directory.glob("*.pem"):
        if stale.stem not in found:
            stale.unlink()
