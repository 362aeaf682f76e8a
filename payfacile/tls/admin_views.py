"""/admin/certificates: every custom domain's certificate, and the budgets under the CA's
limits as they stand, for platform admins."""

from __future__ import annotations

from quart import Blueprint
from quart.typing import ResponseReturnValue

from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.tenants import domains
from payfacile.tenants.admin_views import signed_in_admin
from payfacile.tenants.site import require_central
from payfacile.tls import issuance, status

blueprint = Blueprint("admin_certificates", __name__, url_prefix="/admin")
blueprint.before_request(require_central)


@blueprint.get("/certificates")
async def certificates() -> ResponseReturnValue:
    admin = await signed_in_admin()
    found = services()
    states = await status.states()
    budgets = await status.budgets(
        found.limiter, found.settings, [state.hostname for state in states]
    )
    return await render_template(
        "admin/certificates.html",
        admin=admin,
        states=states,
        budgets=budgets,
        problems={code: status.problem_words(code, found.settings) for code in issuance.PROBLEMS},
        labels=domains.STATUS_LABELS,
        ordering=bool(found.settings.acme_directory_url),
        directory=found.settings.acme_directory_url,
    )
