"""Pages render with Jinja's synchronous code (`platform.rendering`): that holds only while
nothing a template calls is a coroutine, and while every view renders through the kernel."""

from __future__ import annotations

import ast
import inspect

from quart import Quart
from werkzeug.local import LocalProxy

from payfacile.platform.rendering import environment
from tests.test_architecture import package_modules


async def test_every_template_global_and_filter_is_a_plain_function(app: Quart) -> None:
    """A coroutine function called in a synchronous template would print
    "<coroutine object …>" into the page instead of its value."""
    jinja = environment(app)
    callables = {
        **{f"global {name}": value for name, value in jinja.globals.items()},
        **{f"filter {name}": value for name, value in jinja.filters.items()},
        **{f"test {name}": value for name, value in jinja.tests.items()},
    }
    awaited = [
        name
        for name, value in callables.items()
        if not isinstance(value, LocalProxy)  # g, request: values, not functions
        and (inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value))
    ]
    assert awaited == []
    assert jinja.is_async is False
    assert jinja.globals is app.jinja_env.globals  # one set of globals for both


def test_no_view_renders_with_quarts_async_templates() -> None:
    """Every page goes through `platform.rendering.render_template`, not Quart's own."""
    offenders = []
    for module, path in package_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "quart":
                names = {alias.name for alias in node.names}
                if names & {"render_template", "render_template_string", "stream_template"}:
                    offenders.append(module)
    assert offenders == []


async def test_a_page_renders_its_translations_and_filters(app: Quart) -> None:
    """The synchronous overlay shares the app's extensions: French words and money."""
    async with app.test_request_context("/", headers={"Host": "payfacile.test"}):
        from quart import g

        g.locale = "fr"
        jinja = environment(app)
        page = jinja.from_string('{{ _("Orders") }} · {{ 1999 | money("EUR") }}').render()
    assert page == "Commandes · 19,99\xa0€"
