"""The FastAPI application factory: the composition root of the web side."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounts import permissions
from accounts.access import authorize
from accounts.routes import router as auth_router
from core.db import check_connection, get_engine, unit_of_work
from core.errors import GongwuError
from core.i18n import tr
from core.settings import Settings, get_settings
from fleet.routes import router as fleet_router
from gongwu.web.common import error_page, wants_page
from gongwu.web.login import web_router as auth_web_router
from gongwu.web.maps import tile_origin
from gongwu.web.routes import STATIC_DIR
from gongwu.web.routes import router as web_router
from ingest.kinds import kind_name
from ingest.routes import router as ingest_router
from property.routes import router as property_router
from scheduler.routes import router as scheduler_router

API = "/api/v1"
logger = logging.getLogger(__name__)


DOCS_ASSETS = "/docs-assets"


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its script and style from the swagger-ui-bundle package (no CDN)."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import HTMLResponse
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def docs_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


# Pages load only their own scripts, styles and images (no inline script, no CDN, no framing); /docs'
# Swagger UI starts from one inline script, so it alone may run inline code.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = PAGE_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    """Headers on every answer (a plain ASGI middleware: streamed exports pass through untouched), and the
    content security policy on HTML ones."""

    def __init__(self, app: ASGIApp, tiles: str = "") -> None:
        self.app = app
        # a basemap given as a URL template: its tiles are the one thing pages load from elsewhere
        self.page_csp = (
            PAGE_CSP.replace("img-src 'self' data:", f"img-src 'self' data: {tiles}") if tiles else PAGE_CSP
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith("/docs")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("content-security-policy", DOCS_CSP if docs else self.page_csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The engine is built when the app starts, not when this module is imported.
        app.state.engine = engine or get_engine(settings.database_url)
        check_connection(app.state.engine)
        from gongwu import migrate

        migrate.require_current(app.state.engine)  # no server on a database without its schema
        from scheduler.import_jobs import ImportWorker

        # uploads are imported by this thread, never on the event loop that serves pages and listeners
        threaded = not getattr(app.state, "imports_inline", False)
        app.state.import_worker = ImportWorker(
            lambda: app.state.open_session(), app.state.engine, threaded=threaded
        ).start()
        try:
            yield
        finally:
            app.state.import_worker.stop()

    app = FastAPI(
        title="gongwu 公务",
        description="Fleet reconciliation and property register of a county office-affairs service center.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: an intranet without internet sees them too
        redoc_url=None,
        # Every route is authenticated and authorised from the one table in gongwu/permissions.py.
        dependencies=[Depends(authorize)],
    )
    # Import permissions follow the kind; the registry (above accounts) says which kind a name means.
    permissions.install(app, dataclasses.replace(permissions.TABLE, kind_of=kind_name))
    app.state.settings = settings
    if engine is not None:
        app.state.engine = engine
    # one transaction of work outside a request (the import worker); tests put their own session here
    app.state.open_session = lambda: unit_of_work(app.state.engine)

    @app.exception_handler(GongwuError)
    async def _gongwu_error(request: Request, exc: GongwuError) -> Response:
        if exc.status_code in (403, 404) and wants_page(request):
            return await run_in_threadpool(error_page, request, exc.status_code, exc.message)
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.message}, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # an unknown address (or a method a page does not take) is a page for a person, JSON for the API
        if exc.status_code in (404, 405) and wants_page(request):
            return await run_in_threadpool(error_page, request, 404)
        return await http_exception_handler(request, exc)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # A number too large for its column (SQLite refuses to bind it, PostgreSQL's int4 overflows) or a
        # value too long: the client's data, not a server fault. Never echo the SQL.
        logger.warning("out-of-range value refused", extra={"kv": {"path": request.url.path}})
        return JSONResponse(
            status_code=422, content={"detail": tr("数值超出范围", "a value is out of range")}
        )

    _offline_docs(app)

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> dict[str, Any]:
        check_connection(request.app.state.engine)
        return {"status": "ok", "database": request.app.state.engine.dialect.name}

    for router in (
        auth_router,
        fleet_router,
        ingest_router,
        property_router,
        scheduler_router,
    ):
        app.include_router(router, prefix=API)
    app.include_router(auth_web_router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")  # public, outside `authorize`
    app.add_middleware(SecurityHeaders, tiles=tile_origin(settings))
    return app
