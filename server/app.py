"""`make_app`: the Tornado Application for a context. Handlers read their dependencies from the `ctx`
setting through `BaseHandler.ctx`."""

from __future__ import annotations

from tornado.web import Application

from handlers import all_routes
from handlers.context import AppContext
from handlers.webui import AppFallbackHandler
from web.access_log import log_request


def make_app(ctx: AppContext) -> Application:
    """The application serving every route for this context."""
    return Application(
        all_routes(),
        ctx=ctx,
        default_handler_class=AppFallbackHandler,  # dashboard pages, else the JSON 404
        log_function=log_request,
        compress_response=True,
        xsrf_cookies=False,  # no cookie auth anywhere: bearer tokens and API keys only
    )
