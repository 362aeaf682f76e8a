"""What a custom domain's DNS says, record by record (docs/architecture.md, "Custom domain
lifecycle").

`expected_records` is what a merchant must create; `check` asks DNS (dnspython, against
`DNS_NAMESERVERS` or the system's resolver) for each, and for what would stop a certificate
later (a CAA record that forbids the CA, an AAAA record pointing elsewhere), and returns a
`Report`: each record found, missing or wrong, with what was found instead. A lookup that
gets no definite answer (a timeout, a failing server) is `lookup_error`, not "missing", so a
flaky resolver never moves a domain's state.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from publicsuffixlist import PublicSuffixList

from payfacile.platform.config import Settings, nameserver_address

OWNERSHIP_PREFIX = "_payfacile"
QUERY_TIMEOUT_SECONDS = 2.0
LOOKUP_SECONDS = 4.0  # one query's whole budget, retries included
SUGGESTED_TTL_SECONDS = 300

State = Literal["found", "missing", "wrong"]
Purpose = Literal["ownership", "routing"]


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: no download


def registrable_domain(hostname: str) -> str | None:
    """The name one registers (`example.co.uk` for `shop.example.co.uk`); None for a public
    suffix itself (`co.uk`)."""
    found: str | None = _suffixes().privatesuffix(hostname)
    return found


def is_apex(hostname: str) -> bool:
    """Whether `hostname` is a registered domain itself, which cannot hold a CNAME."""
    return registrable_domain(hostname) == hostname


def ownership_name(hostname: str) -> str:
    return f"{OWNERSHIP_PREFIX}.{hostname}"


@dataclass(frozen=True, slots=True)
class Expected:
    """A record to create: its type, name, value and what it is for."""

    purpose: Purpose
    type: str
    name: str
    value: str


def expected_records(hostname: str, token: str, settings: Settings) -> list[Expected]:
    """The TXT record proving ownership, then the routing: a CNAME to `CNAME_TARGET` for a
    subdomain, A/AAAA records naming `PLATFORM_IPS` for an apex (none when unset)."""
    records = [Expected("ownership", "TXT", ownership_name(hostname), token)]
    if not is_apex(hostname):
        records.append(Expected("routing", "CNAME", hostname, settings.cname_target))
        return records
    for address in settings.platform_ips:
        kind = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
        records.append(Expected("routing", kind, hostname, address))
    return records


@dataclass(slots=True)
class Finding:
    """One record as DNS answered it."""

    purpose: Purpose
    type: str
    name: str
    expected: list[str]
    state: State
    found: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Problem:
    """Something that stops a certificate later: `caa` (CAA records allowing other CAs
    only), `stray_aaaa` (IPv6 addresses that are not the platform's)."""

    code: Literal["caa", "stray_aaaa"]
    name: str
    found: list[str]


@dataclass(slots=True)
class Report:
    checked_at: str
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lookup_error: str = ""  # no definite answer: nothing above is to be believed

    @property
    def owned(self) -> bool:
        return not self.lookup_error and all(
            item.state == "found" for item in self.findings if item.purpose == "ownership"
        )

    @property
    def routed(self) -> bool:
        """Some routing record is right and none is wrong."""
        routing = [item for item in self.findings if item.purpose == "routing"]
        return (
            not self.lookup_error
            and any(item.state == "found" for item in routing)
            and not any(item.state == "wrong" for item in routing)
        )

    @property
    def verified(self) -> bool:
        return self.owned and self.routed

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Report | None:
        if not raw:
            return None
        data = json.loads(raw)
        return cls(
            checked_at=data["checked_at"],
            findings=[Finding(**item) for item in data["findings"]],
            problems=[Problem(**item) for item in data["problems"]],
            lookup_error=data["lookup_error"],
        )


class LookupFailed(Exception):
    """DNS gave no definite answer (a timeout, every server failing)."""


def make_resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    """A resolver asking `DNS_NAMESERVERS` (the system's when unset), with no cache: a
    merchant who just fixed a record and clicks "Verify now" must be asked about afresh."""
    if settings.dns_nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(*nameserver_address(item))
            for item in settings.dns_nameservers
        ]
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.timeout = QUERY_TIMEOUT_SECONDS
    resolver.lifetime = LOOKUP_SECONDS
    resolver.cache = None
    return resolver


async def _answers(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> list[str]:
    """The values DNS holds for `name`, as text (none: the name or the type is absent)."""
    try:
        answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return []
    except dns.exception.DNSException as error:
        raise LookupFailed(f"{rdtype} {name}: {error}") from error
    if answer.rrset is None:
        return []
    return [_text(rdata) for rdata in answer.rrset]


def _text(rdata: object) -> str:
    rdtype = getattr(rdata, "rdtype", None)
    if rdtype == dns.rdatatype.TXT:
        strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
        return b"".join(strings).decode("utf-8", "replace")
    if rdtype == dns.rdatatype.CNAME:
        return str(rdata.target).rstrip(".").lower()  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.CAA:
        tag = rdata.tag.decode("ascii", "replace").lower()  # type: ignore[attr-defined]
        value = rdata.value.decode("utf-8", "replace")  # type: ignore[attr-defined]
        return f"{tag} {value}"
    return str(rdata).lower()


async def check(hostname: str, token: str, settings: Settings) -> Report:
    """Ask DNS about `hostname`'s records: a handful of queries, made at once."""
    report = Report(checked_at=datetime.now(UTC).isoformat())
    resolver = make_resolver(settings)
    try:
        txt, cname, a, aaaa, caa = await asyncio.gather(
            _answers(resolver, ownership_name(hostname), "TXT"),
            _answers(resolver, hostname, "CNAME"),
            _answers(resolver, hostname, "A"),
            _answers(resolver, hostname, "AAAA"),
            _caa(resolver, hostname),
        )
    except LookupFailed as error:
        report.lookup_error = str(error)
        return report
    report.findings.append(_ownership(hostname, token, txt))
    report.findings.extend(_routing(hostname, settings, cname=cname, a=a, aaaa=aaaa))
    report.problems.extend(_problems(hostname, settings, cname=cname, aaaa=aaaa, caa=caa))
    return report


def _ownership(hostname: str, token: str, txt: list[str]) -> Finding:
    values = [value.strip() for value in txt]
    state: State = "found" if token in values else "wrong" if values else "missing"
    return Finding("ownership", "TXT", ownership_name(hostname), [token], state, values)


def _split_ips(settings: Settings) -> tuple[list[str], list[str]]:
    v4 = [ip for ip in settings.platform_ips if ipaddress.ip_address(ip).version == 4]
    v6 = [ip for ip in settings.platform_ips if ipaddress.ip_address(ip).version == 6]
    return v4, v6


def _addresses(found: list[str]) -> set[str]:
    return {str(ipaddress.ip_address(value)) for value in found}


def _routing(
    hostname: str, settings: Settings, *, cname: list[str], a: list[str], aaaa: list[str]
) -> list[Finding]:
    v4, v6 = _split_ips(settings)
    if not is_apex(hostname):
        target = settings.cname_target
        if cname:
            state: State = "found" if cname[0] == target else "wrong"
            return [Finding("routing", "CNAME", hostname, [target], state, cname)]
        # No CNAME: A records naming the platform route it as well.
        addresses = _addresses(a)
        if addresses and v4 and addresses <= set(v4):
            return [Finding("routing", "A", hostname, v4, "found", sorted(addresses))]
        state = "wrong" if addresses else "missing"
        return [Finding("routing", "CNAME", hostname, [target], state, sorted(addresses))]
    findings = []
    for kind, ours, found in (("A", v4, a), ("AAAA", v6, aaaa)):
        if not ours:
            continue
        addresses = _addresses(found)
        state = "missing" if not addresses else "found" if addresses <= set(ours) else "wrong"
        findings.append(Finding("routing", kind, hostname, ours, state, sorted(addresses)))
    return findings


def _problems(
    hostname: str, settings: Settings, *, cname: list[str], aaaa: list[str], caa: CaaSet
) -> list[Problem]:
    problems = []
    _v4, v6 = _split_ips(settings)
    checked_as_routing = is_apex(hostname) and bool(v6)  # then a wrong AAAA is a finding
    stray = sorted(_addresses(aaaa) - set(v6))
    if not cname and stray and not checked_as_routing:
        problems.append(Problem("stray_aaaa", hostname, stray))
    if caa is not None and not _caa_allows(caa[1], settings.acme_caa_identities):
        problems.append(Problem("caa", caa[0], caa[1]))
    return problems


CaaSet = tuple[str, list[str]] | None  # the name holding the relevant CAA records, and them


async def _caa(resolver: dns.asyncresolver.Resolver, hostname: str) -> CaaSet:
    """The CAA records that apply to `hostname` (RFC 8659: the closest name up the tree
    holding any), or None when no name up to the registered domain holds one."""
    labels = hostname.split(".")
    registered = registrable_domain(hostname) or hostname
    names = [".".join(labels[i:]) for i in range(len(labels))]
    names = names[: names.index(registered) + 1] if registered in names else names[:1]
    found = await asyncio.gather(*(_answers(resolver, name, "CAA") for name in names))
    for name, records in zip(names, found, strict=True):
        if records:
            return name, records
    return None


def _caa_allows(records: list[str], identities: list[str]) -> bool:
    """Whether `issue` records (if any) name one of `identities`: with none, any CA may."""
    issuers = [value for tag, _, value in (r.partition(" ") for r in records) if tag == "issue"]
    if not issuers:
        return True
    named = {value.split(";", 1)[0].strip().lower().rstrip(".") for value in issuers}
    return bool(named & set(identities))
