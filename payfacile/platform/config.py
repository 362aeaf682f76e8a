"""One typed settings object, read once from `PAYFACILE_*` environment variables."""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
MIN_SECRET_BYTES = 32


def _split(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Every setting the platform reads. Tests build their own instance."""

    model_config = SettingsConfigDict(env_prefix="PAYFACILE_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "payfacile:"
    platform_domain: str = "payfacile.localhost"
    cname_target: str = ""
    platform_ips: CommaList = Field(default_factory=list)
    secret_key: CommaList = Field(default_factory=list)
    public_scheme: Literal["http", "https"] | None = None
    public_port: int | None = None
    public_https_port: int | None = None  # of links to HTTPS custom domains; None: 443
    trusted_proxies: CommaList = Field(default_factory=list)
    smtp_url: str = ""
    mail_from: str = ""
    acme_directory_url: str = LETS_ENCRYPT_STAGING
    acme_ca_bundle: str = ""
    acme_email: str = ""
    acme_http_port: int = Field(default=80, gt=0, lt=65536)
    acme_profile: str = ""  # a certificate profile the CA offers (`shortlived`, say)
    # The issuer domains a custom domain's CAA records must allow (the CA's, RFC 8659).
    acme_caa_identities: CommaList = Field(default_factory=lambda: ["letsencrypt.org"])
    dns_nameservers: CommaList = Field(default_factory=list)
    tls_default_cert: str = ""
    tls_default_key: str = ""
    host_cache_seconds: float = Field(default=3.0, gt=0)
    scheduler_interval: float = Field(default=1.0, gt=0)  # seconds between scans for due work
    job_retry_base_seconds: float = Field(default=10.0, gt=0)  # first retry; doubles after
    smtp_timeout: float = Field(default=30.0, gt=0)
    job_concurrency: int = Field(default=8, ge=1, le=200)  # jobs one process runs at once
    _public_port_given: bool = PrivateAttr(default=False)
    # "test" names the built-in test gateway; production refuses it unless named here.
    payment_gateway: Literal["", "test"] = ""

    _split_lists = field_validator(
        "platform_ips",
        "secret_key",
        "trusted_proxies",
        "dns_nameservers",
        "acme_caa_identities",
        mode="before",
    )(_split)

    @field_validator("platform_ips")
    @classmethod
    def _valid_addresses(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(item)) for item in value]

    @field_validator("dns_nameservers")
    @classmethod
    def _valid_nameservers(cls, value: list[str]) -> list[str]:
        for item in value:
            nameserver_address(item)
        return value

    @field_validator("acme_caa_identities")
    @classmethod
    def _lower_identities(cls, value: list[str]) -> list[str]:
        return [item.lower().rstrip(".") for item in value]

    @field_validator("platform_domain", "cname_target")
    @classmethod
    def _lower_host(cls, value: str) -> str:
        return value.strip().lower().rstrip(".")

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite://{self.data_dir / 'payfacile.sqlite3'}"
        if not self.cname_target:
            self.cname_target = f"stores.{self.platform_domain}"
        if not self.mail_from:
            self.mail_from = f"no-reply@{self.platform_domain}"
        production = self.env == "production"
        self._public_port_given = "public_port" in self.model_fields_set
        if self.public_scheme is None:
            self.public_scheme = "https" if production else "http"
        if self.public_port is None and not production:
            self.public_port = 8000
        if production and not self.secret_key:
            raise ValueError("PAYFACILE_SECRET_KEY is required when PAYFACILE_ENV=production")
        if production and any(len(key.encode()) < MIN_SECRET_BYTES for key in self.secret_key):
            raise ValueError(
                f"PAYFACILE_SECRET_KEY: every key must be {MIN_SECRET_BYTES} bytes or more in"
                " production (make one with: python -c"
                " 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    def serving_on(self, port: int, https_port: int | None = None) -> Settings:
        """These settings for a server listening on `port` (and `https_port`): outside
        production, links use those ports, unless `PUBLIC_PORT` or `PUBLIC_HTTPS_PORT` was
        given (a proxy in front, say)."""
        if self.production:
            return self
        update: dict[str, int] = {}
        if not self._public_port_given:
            update["public_port"] = port
        if https_port is not None and "public_https_port" not in self.model_fields_set:
            update["public_https_port"] = https_port
        return self.model_copy(update=update) if update else self

    @cached_property
    def secret_keys(self) -> list[bytes]:
        """The signing and encryption keys, newest first; generated once in development."""
        if self.secret_key:
            return [key.encode() for key in self.secret_key]
        path = self.data_dir / "secret_key"
        if not path.exists():
            make_private_dir(self.data_dir)
            _create_private_file(path, secrets.token_urlsafe(48))
        return [path.read_text().strip().encode()]

    @property
    def reserved_slugs(self) -> frozenset[str]:
        first_label = self.cname_target.split(".", 1)[0]
        return RESERVED_SLUGS | {first_label}


def nameserver_address(item: str) -> tuple[str, int]:
    """A `DNS_NAMESERVERS` item (`host`, `host:port`, `[v6]:port` or a bare IPv6 address) as
    an address and a port; `ValueError` when it is neither."""
    host, port = item, 53
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif item.count(":") == 1:
        host, _, given = item.partition(":")
        port = int(given)
    if not 0 < port < 65536:
        raise ValueError(f"{item!r} has no valid port")
    return str(ipaddress.ip_address(host)), port


def make_private_dir(path: Path) -> None:
    """Create `path` (and its parents) readable by this user only: 0700, even when it exists.

    The data directory holds the SQLite database, the generated secret key and the Maildir."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        path.chmod(0o700)


def _create_private_file(path: Path, text: str) -> None:
    """Write a new file that is 0600 from the moment it exists; another process that created
    it first wins (its content is kept)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def describe_errors(error: ValidationError) -> str:
    """What is wrong with the settings: each variable and its problem, never the values (the
    database and SMTP URLs carry passwords)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        location = ".".join(str(part) for part in item["loc"])
        problems.append(f"PAYFACILE_{location.upper()}: {message}" if location else message)
    return "; ".join(problems)


RESERVED_SLUGS = frozenset(
    {
        "www",
        "admin",
        "api",
        "app",
        "mail",
        "smtp",
        "imap",
        "pop",
        "static",
        "assets",
        "cdn",
        "stores",
        "store",
        "dashboard",
        "portal",
        "status",
        "help",
        "support",
        "docs",
        "blog",
        "billing",
        "payfacile",
        "ns1",
        "ns2",
        "mx",
        "autodiscover",
        "autoconfig",
    }
)
