"""What the portal part adds to the app: the buyer's pages on every store host, the store
dashboard's pages on the central host (home, customers, orders, invoices, products,
cancellation requests), template globals (order statuses, decline reasons, the payments'
test mode), the job that renders invoice PDFs at issue, the invoice PDFs that invoice emails
carry, the sweep that ends lapsed subscriptions, and the portal's header on a signed-in
buyer's error pages."""

from __future__ import annotations

from payfacile.platform.jobs import Sweep
from payfacile.platform.registry import Registry
from payfacile.portal import (
    access_views,
    cancellation_views,
    dashboard_home,
    dashboard_orders,
    dashboard_views,
    home_views,
    order_views,
    payment_views,
    product_views,
    profile_views,
    shell,
    subscription_views,
)
from payfacile.portal.gateway import test_mode
from payfacile.portal.pdf import INVOICE_ATTACHMENT, INVOICE_PDF, invoice_attachment
from payfacile.portal.subscriptions import end_lapsed


def register(registry: Registry) -> None:
    registry.blueprints.extend(
        [
            access_views.blueprint,
            home_views.blueprint,
            order_views.blueprint,
            payment_views.blueprint,
            subscription_views.blueprint,
            profile_views.blueprint,
            dashboard_home.blueprint,
            dashboard_views.blueprint,
            dashboard_orders.blueprint,
            product_views.blueprint,
            cancellation_views.blueprint,
        ]
    )
    registry.error_layouts.append(shell.error_layout)
    registry.template_globals["order_status"] = order_views.order_status
    registry.template_globals["decline_reason"] = order_views.decline_reason
    registry.jobs.add_kind(INVOICE_PDF)
    registry.jobs.add_attachment_kind(INVOICE_ATTACHMENT, invoice_attachment)
    registry.template_globals["payments_test_mode"] = lambda: test_mode(registry.services.settings)
    registry.jobs.add_sweep(Sweep(name="lapsed subscriptions", run=end_lapsed))
