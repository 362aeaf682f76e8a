"""The model modules of every part, as Tortoise loads them: by name, in one list that the app,
the command line, the tests and Tortoise's own CLI share. Importing this imports no part."""

from __future__ import annotations

MODEL_MODULES = [
    "payfacile.tenants.models",
    "payfacile.portal.models",
    "payfacile.platform.models",
    "payfacile.tls.models",
]
