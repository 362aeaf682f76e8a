"""The `payfacile` command: serve, migrate, demo and store administration.

Like `payfacile.app`, this is an entry point above the parts: each command imports what it
uses when it runs, so `--help` loads none of them.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from payfacile.platform.config import Settings
    from payfacile.platform.ratelimit import RateLimiter
    from payfacile.tenants.hosts import HostResolver
    from payfacile.tenants.models import Domain


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    """The database for one CLI command."""
    from payfacile.platform import db
    from payfacile.schema import MODEL_MODULES

    await db.init_db(settings, MODEL_MODULES)
    try:
        yield
    finally:
        await db.close_db()


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[HostResolver]:
    """The database and the host resolver over the shared cache, for a command that changes
    what a host serves (the resolver invalidates it on every instance)."""
    from payfacile.platform.cache import Shared
    from payfacile.tenants.hosts import HostResolver

    async with database(settings):
        shared = Shared(settings.redis_url, prefix=settings.redis_prefix)
        try:
            yield HostResolver(settings, shared)
        finally:
            await shared.close()


def _say(message: str) -> None:
    print(message, flush=True)


async def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> None:
    from payfacile.platform import db
    from payfacile.schema import MODEL_MODULES

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_start":
            print(f"  applying {app_label}.{name} …", end="", flush=True)
        elif event == "apply_done":
            print(" done", flush=True)

    _say(f"Migrating {_describe_db(settings)}")
    await db.migrate(settings, MODEL_MODULES, progress=progress)
    _say("Database is up to date.")


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.demo import DEMO_BUYER, DEMO_PASSWORD, owner_email, seed_demo
    from payfacile.platform.urls import central_url

    async with connected(settings) as hosts:
        result = await seed_demo(settings, hosts, slug=args.slug, reset=args.reset)
    store = result.store
    done = "Reset to new:" if args.reset else "Created" if result.created else "Already there:"
    _say(f"{done} demo store “{store.name}” at {_store_url(settings, store.slug)}")
    _say(f"Demo buyer: {DEMO_BUYER}, password {DEMO_PASSWORD} (sign in on the portal)")
    _say(f"Store owner: {owner_email(store.slug)}, emailed an invitation to choose a password")
    if not settings.smtp_url and not settings.production:
        _say(f"Emails: {central_url(settings, '/dev/mailbox/')} (sent while serve runs)")


async def cmd_stores_create(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tenants import stores

    async with connected(settings) as hosts:
        store = await stores.create_store(
            settings=settings,
            hosts=hosts,
            name=args.name,
            slug=args.slug,
            owner_email=args.owner_email,
            time_zone=args.time_zone,
        )
    _say(f"Created store “{store.name}” ({store.slug}) at {_store_url(settings, store.slug)}")


async def cmd_admins_create(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tenants import accounts

    async with database(settings):
        admin, link = await accounts.create_admin(settings, args.email)
    _say(f"Platform admin {admin.email}: an email with a link to choose a password is queued.")
    _say(f"It works once, for 7 days: {link}")


async def cmd_customers_invite(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.portal import auth
    from payfacile.tenants import stores

    async with database(settings):
        store = await stores.get_store(args.store)
        link = await auth.invite(settings, store, args.email)
    _say(f"Invitation to the {store.name} portal queued for {args.email}.")
    _say(f"It works once, for 7 days: {link}")


async def cmd_orders_create(settings: Settings, args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from payfacile.portal import auth, orders
    from payfacile.portal.models import OrderStatus
    from payfacile.tenants import stores

    async with database(settings):
        store = await stores.get_store(args.store)
        lines = [orders.parse_line(line, store.currency) for line in args.line]
        customer = await auth.customer_by_email(store, args.email)
        order = await orders.place_order(
            store,
            customer,
            lines=lines,
            placed_at=datetime.now(UTC),
            status=OrderStatus.PAID if args.paid else OrderStatus.PENDING,
            notify=settings,
        )
    _say(f"Order {order.number} recorded for {customer.email} ({order.status}).")
    _say("Its confirmation email is queued.")


async def cmd_invoices_issue(settings: Settings, args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from payfacile.portal import invoices, orders
    from payfacile.tenants import stores

    async with database(settings):
        store = await stores.get_store(args.store)
        order = await orders.store_order(store, args.order_number)
        invoice = await invoices.issue_invoice(
            store, order, issued_at=datetime.now(UTC), notify=settings
        )
    _say(f"Invoice {invoice.number} issued for order {order.number}.")
    _say("Its email, with the PDF, is queued.")


def _say_domain(settings: Settings, domain: Domain) -> None:
    """A domain's state, the records it needs and, after a check, what DNS holds."""
    from payfacile.tenants import dns_check, domains

    primary = ", primary" if domain.is_primary else ""
    _say(f"{domain.hostname}: {domains.STATUS_LABELS[domain.status]}{primary}")
    _say(f"  Records to create (TTL {dns_check.SUGGESTED_TTL_SECONDS} s while you set up):")
    for record in dns_check.expected_records(domain.hostname, domain.verification_token, settings):
        _say(f"    {record.name}.  {record.type}  {record.value}")
    report = dns_check.Report.from_json(domain.report)
    if report is None:
        return
    _say(f"  Last checked {report.checked_at[:19].replace('T', ' ')} UTC:")
    if report.lookup_error:
        _say(f"    {domains.describe_lookup_error()} ({report.lookup_error})")
    for finding in report.findings:
        _say(f"    {domains.describe_finding(finding)}")
    for problem in report.problems:
        _say(f"    {domains.describe_problem(problem, settings)}")


@asynccontextmanager
async def _limiter(settings: Settings) -> AsyncIterator[RateLimiter]:
    from payfacile.platform.ratelimit import RateLimiter

    limiter = RateLimiter(settings.redis_url, prefix=settings.redis_prefix)
    try:
        yield limiter
    finally:
        await limiter.close()


async def cmd_domains_add(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tenants import domains, stores

    async with connected(settings) as hosts, _limiter(settings) as limiter:
        store = await stores.get_store(args.store)
        _say(f"Checking the DNS of {args.hostname} …")
        added = await domains.add(settings, hosts, limiter, store, args.hostname)
        domain = await domains.domain_of(store, added.domain.id)
    if added.took_over:
        _say("DNS holds this store's token: another store's unproven claim was withdrawn.")
    _say_domain(settings, domain)
    if domain.status == "pending_dns":
        _say(f"Once the records are set: payfacile domains verify {domain.hostname}")


async def cmd_domains_list(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tenants import domains, stores
    from payfacile.tenants.models import Domain
    from payfacile.tenants.scope import across_stores

    async with database(settings):
        if args.store:
            store = await stores.get_store(args.store)
            found = [(store.slug, domain) for domain in await domains.domains_of(store)]
        else:
            rows = await (
                across_stores(Domain, reason="platform admin")
                .select_related("store")
                .order_by("store__slug", "hostname")
            )
            found = [(domain.store.slug, domain) for domain in rows]
    if not found:
        _say("No custom domains.")
    for slug, domain in found:
        primary = " (primary)" if domain.is_primary else ""
        _say(f"{domain.hostname:40} {slug:20} {domain.status.value:12}{primary}")


async def cmd_domains_verify(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tenants import domains

    async with connected(settings) as hosts, _limiter(settings) as limiter:
        domain = await domains.find(args.hostname)
        _say(f"Checking the DNS of {domain.hostname} …")
        domain = await domains.check_now(settings, hosts, limiter, domain.store, domain)
    _say_domain(settings, domain)


async def cmd_domains_remove(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tenants import domains

    async with connected(settings) as hosts:
        domain = await domains.find(args.hostname)
        await domains.remove(settings, hosts, domain.store, domain)
    _say(f"Removed {domain.hostname} from {domain.store.slug}: it is no longer served.")


async def cmd_certs_list(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tenants import stores
    from payfacile.tls import issuance, status

    async with database(settings):
        store = await stores.get_store(args.store) if args.store else None
        found = await status.states(store)
    if not found:
        _say("No custom domains.")
        return
    _say(f"{'HOST':40} {'STORE':16} {'STATE':12} {'EXPIRES':17} NEXT ORDER")
    for state in found:
        expires = _when(state.not_after) if state.not_after else "-"
        upcoming = _when(state.next_order_at) if state.next_order_at else "-"
        status_text = f"{state.status.value:12} {expires:17} {upcoming}"
        _say(f"{state.hostname:40} {state.store_slug:16} {status_text}")
        if state.problem:
            meaning = issuance.PROBLEMS.get(state.problem, state.problem)
            _say(f"    last order failed ({state.failures} in a row): {meaning}: {state.error}")


async def cmd_certs_export(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tls.export import CRT_LIST, bundles, write

    async with database(settings):
        found = await bundles(settings)
    directory = await asyncio.to_thread(lambda: Path(args.directory).expanduser().resolve())
    await asyncio.to_thread(write, directory, found, _say)
    _say(f"{len(found)} certificates in {directory}; HAProxy: crt-list {directory / CRT_LIST}")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


async def cmd_keys_rotate(settings: Settings, _args: argparse.Namespace) -> None:
    from payfacile.app import registry
    from payfacile.platform.crypto import InvalidToken, reseal_column

    columns = registry(settings).sealed
    async with database(settings):
        for column in columns:
            _say(f"Sealing {column.name} again under the newest SECRET_KEY…")
            done = 0
            try:
                async for done, total in reseal_column(settings, column):
                    _say(f"  {done}/{total}")
            except InvalidToken as error:
                raise SystemExit(
                    f"payfacile: a value of {column.name} opens under none of the listed keys:"
                    " keep every key it may have been sealed with in PAYFACILE_SECRET_KEY"
                ) from error
            _say(f"  {done} done.")
    _say("Every sealed value now opens with the first key: older keys can be dropped.")


async def cmd_domains_primary(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.tenants import domains

    async with connected(settings) as hosts:
        domain = await domains.find(args.hostname)
        await domains.make_primary(hosts, domain.store, domain)
    _say(f"{domain.hostname} is the primary domain of {domain.store.slug}.")


async def cmd_stores_list(settings: Settings, _args: argparse.Namespace) -> None:
    from payfacile.tenants import stores

    async with database(settings):
        rows = await stores.list_stores()
    if not rows:
        _say(
            "No stores yet. Create one with: payfacile stores create --name … --slug … "
            "--owner-email …"
        )
        return
    width = max(len(store.slug) for store, _ in rows)
    _say(f"{'SLUG'.ljust(width)}  {'STATUS':<9}  {'OWNER':<30}  NAME")
    for store, owner in rows:
        email = owner.email if owner else ""
        _say(f"{store.slug.ljust(width)}  {store.status:<9}  {email:<30}  {store.name}")


def _set_status(status: str) -> Callable[[Settings, argparse.Namespace], Awaitable[None]]:
    """`stores suspend` or `stores reactivate`: `status` is a `StoreStatus` value."""

    async def run(settings: Settings, args: argparse.Namespace) -> None:
        from payfacile.tenants import stores
        from payfacile.tenants.models import StoreStatus

        async with connected(settings) as hosts:
            store = await stores.get_store(args.slug)
            if store.status == status:
                _say(f"Store {store.slug} is already {status}.")
                return
            await stores.set_status(store, StoreStatus(status), hosts=hosts)
        _say(f"Store {store.slug} is now {status}.")

    return run


async def _run_background(settings: Settings, *, scheduler: bool, worker: bool) -> None:
    from payfacile.app import background_work
    from payfacile.platform import db
    from payfacile.schema import MODEL_MODULES

    if not settings.redis_url:
        raise SystemExit(
            "payfacile: the scheduler and workers share work through Redis: set "
            "PAYFACILE_REDIS_URL (without Redis, `payfacile serve` runs both itself)"
        )
    await db.init_db(settings, MODEL_MODULES)
    background = background_work(settings, scheduler=scheduler, worker=worker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await background.start()
    _say(f"payfacile {'scheduler' if scheduler else 'worker'} running ({_describe_db(settings)})")
    try:
        await stop.wait()
    finally:
        await background.stop()
        await db.close_db()


async def cmd_scheduler(settings: Settings, _args: argparse.Namespace) -> None:
    await _run_background(settings, scheduler=True, worker=False)


async def cmd_worker(settings: Settings, _args: argparse.Namespace) -> None:
    await _run_background(settings, scheduler=False, worker=True)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    from payfacile.app import create_app
    from payfacile.platform.server import Listen, serve
    from payfacile.platform.urls import central_url, origin

    settings = settings.serving_on(args.port, args.https_port)
    central = central_url(settings, "/")
    _say(f"PayFacile: open the central host at {central}")
    _say(f"  demo portal:   {origin(settings, f'demo.{settings.platform_domain}')}/portal/")
    if not settings.production and not settings.smtp_url:
        _say(f"  emails:        {central_url(settings, '/dev/mailbox/')}")
    if args.https_port:
        _say(f"  https:         https://{settings.platform_domain}:{args.https_port}/")
    _say(f"  (listening on {args.host}:{args.port}, {_describe_db(settings)}; stores answer")
    _say("   on their names, not on an IP address; *.localhost names resolve to this machine)")
    serve(
        settings,
        Listen(
            host=args.host,
            port=args.port,
            https_port=args.https_port,
            workers=args.workers,
            access_log=not args.no_access_log,
        ),
        create_app,
    )


def _describe_db(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("sqlite"):
        return f"SQLite at {url.removeprefix('sqlite://')}"
    return f"{url.split('://', 1)[0]} database {url.rsplit('/', 1)[-1].split('?')[0]}"


def _store_url(settings: Settings, slug: str) -> str:
    port = f":{settings.public_port}" if settings.public_port else ""
    return f"{settings.public_scheme}://{slug}.{settings.platform_domain}{port}/portal/"


def _port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError("a port is a number from 1 to 65535")
    return port


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payfacile", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the platform over HTTP (and HTTPS)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--https-port", type=_port, default=None)
    serve.add_argument("--workers", type=_positive, default=1)
    serve.add_argument("--no-access-log", action="store_true")
    serve.set_defaults(sync_handler=cmd_serve)

    commands.add_parser(
        "scheduler", help="hand due work to workers (production, with Redis; run one)"
    ).set_defaults(handler=cmd_scheduler)
    commands.add_parser(
        "worker", help="do background work (production, with Redis; run many)"
    ).set_defaults(handler=cmd_worker)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(
        handler=cmd_migrate
    )

    demo = commands.add_parser("demo", help="create a demo store with data (idempotent)")
    demo.add_argument("--slug", default="demo")
    demo.add_argument(
        "--reset", action="store_true", help="delete the demo store and make it again as new"
    )
    demo.set_defaults(handler=cmd_demo)

    admins = commands.add_parser("admins", help="platform admins")
    admin_commands = admins.add_subparsers(dest="admins_command", required=True, metavar="ACTION")
    create_admin = admin_commands.add_parser(
        "create", help="make a platform admin and email them a link to choose a password"
    )
    create_admin.add_argument("--email", required=True)
    create_admin.set_defaults(handler=cmd_admins_create)

    customers = commands.add_parser("customers", help="a store's customers")
    customer_commands = customers.add_subparsers(
        dest="customers_command", required=True, metavar="ACTION"
    )
    invite = customer_commands.add_parser(
        "invite", help="email a customer a link to create their portal password (7 days)"
    )
    invite.add_argument("--store", required=True, metavar="SLUG")
    invite.add_argument("email")
    invite.set_defaults(handler=cmd_customers_invite)

    orders = commands.add_parser("orders", help="a store's orders")
    order_commands = orders.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    create_order = order_commands.add_parser(
        "create", help="record an order for a customer and email them its confirmation"
    )
    create_order.add_argument("--store", required=True, metavar="SLUG")
    create_order.add_argument("--email", required=True, help="the customer's email")
    create_order.add_argument(
        "--line",
        required=True,
        action="append",
        metavar="LINE",
        help='"description;quantity;unit price excluding VAT;VAT %%", like "Beans;2;12.50;5.5"'
        " (repeat for each line)",
    )
    create_order.add_argument("--paid", action="store_true", help="record the order as paid")
    create_order.set_defaults(handler=cmd_orders_create)

    invoices = commands.add_parser("invoices", help="a store's invoices")
    invoice_commands = invoices.add_subparsers(
        dest="invoices_command", required=True, metavar="ACTION"
    )
    issue = invoice_commands.add_parser(
        "issue", help="issue an order's invoice and email it to the customer with its PDF"
    )
    issue.add_argument("--store", required=True, metavar="SLUG")
    issue.add_argument("order_number", metavar="ORDER_NUMBER")
    issue.set_defaults(handler=cmd_invoices_issue)

    domains = commands.add_parser("domains", help="stores' custom domains")
    domain_commands = domains.add_subparsers(
        dest="domains_command", required=True, metavar="ACTION"
    )
    add_domain = domain_commands.add_parser(
        "add", help="connect a hostname to a store and print the DNS records to create"
    )
    add_domain.add_argument("--store", required=True, metavar="SLUG")
    add_domain.add_argument("hostname", metavar="HOST")
    add_domain.set_defaults(handler=cmd_domains_add)
    list_domains = domain_commands.add_parser("list", help="list custom domains")
    list_domains.add_argument("--store", metavar="SLUG", help="one store's only")
    list_domains.set_defaults(handler=cmd_domains_list)
    for action, handler, text in (
        ("verify", cmd_domains_verify, "check a domain's DNS now and show each record"),
        ("remove", cmd_domains_remove, "stop serving a domain and forget it"),
        ("primary", cmd_domains_primary, "make a domain the one its store's emails link to"),
    ):
        sub = domain_commands.add_parser(action, help=text)
        sub.add_argument("hostname", metavar="HOST")
        sub.set_defaults(handler=handler)

    certs = commands.add_parser("certs", help="custom domains' TLS certificates")
    cert_commands = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    list_certs = cert_commands.add_parser(
        "list", help="each custom domain's certificate: state, expiry (UTC), next order"
    )
    list_certs.add_argument("--store", metavar="SLUG", help="one store's only")
    list_certs.set_defaults(handler=cmd_certs_list)
    export_certs = cert_commands.add_parser(
        "export", help="write PEM bundles and a HAProxy crt-list, for a terminator in front"
    )
    export_certs.add_argument("directory", metavar="DIR")
    export_certs.set_defaults(handler=cmd_certs_export)

    keys = commands.add_parser("keys", help="the secret keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    key_commands.add_parser(
        "rotate",
        help="seal every stored secret again under the first PAYFACILE_SECRET_KEY",
    ).set_defaults(handler=cmd_keys_rotate)

    stores = commands.add_parser("stores", help="onboard and manage stores")
    store_commands = stores.add_subparsers(dest="stores_command", required=True, metavar="ACTION")
    create = store_commands.add_parser("create", help="create a store and its owner account")
    create.add_argument("--name", required=True)
    create.add_argument("--slug", required=True)
    create.add_argument("--owner-email", required=True)
    create.add_argument(
        "--time-zone",
        default="",
        metavar="ZONE",
        help="where its dates are shown, like Europe/Paris (default: its country's, else UTC)",
    )
    create.set_defaults(handler=cmd_stores_create)
    store_commands.add_parser("list", help="list stores").set_defaults(handler=cmd_stores_list)
    for action, status in (("suspend", "suspended"), ("reactivate", "active")):
        sub = store_commands.add_parser(action, help=f"{action} a store")
        sub.add_argument("slug")
        sub.set_defaults(handler=_set_status(status))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError

    from payfacile.platform.config import Settings, describe_errors
    from payfacile.platform.errors import PayFacileError

    try:
        settings = Settings()
    except ValidationError as error:
        print(f"payfacile: invalid settings: {describe_errors(error)}", file=sys.stderr)
        return 2
    try:
        if hasattr(args, "sync_handler"):
            args.sync_handler(settings, args)
        else:
            asyncio.run(args.handler(settings, args))
    except PayFacileError as error:
        print(f"payfacile: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
