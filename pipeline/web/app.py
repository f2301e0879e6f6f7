"""The FastAPI application of the analysts' review: server-rendered pages on the alert store.

``create_app(settings, workspace, engine)`` wires sessions, CSRF, security headers, the
templates (autoescaped: AIS text is untrusted) and the static assets (Leaflet is vendored:
the app works with no internet). Pages live in pipeline/web/pages/, one module per page;
they read through pipeline.alerts.queries and change state only through the store's review and
watchlist functions, which write the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware

from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.lake import Lake
from pipeline.web import security
from pipeline.web.security import CsrfFailed, CurrentUser, Forbidden, LoginRequired
from pipeline.workspace import Workspace

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
SESSION_COOKIE = "vr_session"

# Everything comes from this origin: no CDN, no tiles, no inline script.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class WebContext:
    """What every page needs: settings, workspace, the store's engine, the lake, templates."""

    settings: Settings
    workspace: Workspace
    engine: Engine
    lake: Lake
    templates: Jinja2Templates
    cache: dict[str, Any] = field(default_factory=dict)


def web_of(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


# --------------------------------------------------------------------------- templates


def _fmt_time(value: Any, with_date: bool = True) -> str:
    """ISO text or datetime -> 'YYYY-MM-DD HH:MM' (UTC); '' for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _fmt_num(value: Any, digits: int = 2) -> str:
    if value is None:
        return ""
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _marking_class(marking: str | None) -> str:
    return "tlp-" + (marking or "").lower().replace("tlp:", "").replace("+", "-")


AUDIT_HIDDEN = frozenset({"name_key", "call_sign_key", "created_at", "updated_at", "version",
                          "entry_id", "alert_id", "reason_codes", "password_hash"})
AUDIT_VALUE_CHARS = 120


def _audit_fields(change: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The fields of an audit before/after worth reading, values cut to a readable length."""
    out = []
    for k, v in (change or {}).items():
        if k in AUDIT_HIDDEN or v is None or v == "" or v == []:
            continue
        text = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
        out.append((k, text if len(text) <= AUDIT_VALUE_CHARS
                    else text[: AUDIT_VALUE_CHARS - 1] + "…"))
    return out


def build_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=True),
        undefined=StrictUndefined,
    )
    env.filters["t"] = _fmt_time
    env.filters["num"] = _fmt_num
    env.filters["tlp"] = _marking_class
    env.filters["audit_fields"] = _audit_fields
    env.globals["static"] = lambda path: "/static/" + quote(path)
    return Jinja2Templates(env=env)


def render(request: Request, template: str, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    """A page with the common context: the signed-in user, the CSRF token, flash messages."""
    web = web_of(request)
    base = {
        "user": getattr(request.state, "user", None),
        "csrf": security.csrf_token(request),
        "flashes": security.pop_flashes(request),
        "nav": "",
        "search_q": "",
    }
    base.update(context)
    return web.templates.TemplateResponse(request, template, base, status_code=status_code)


# --------------------------------------------------------------------------- auth dependencies


def current_user(request: Request) -> CurrentUser:
    """The signed-in, enabled user of this request; LoginRequired otherwise."""
    from pipeline.web.users import get_user

    uid = request.session.get("uid")
    if not isinstance(uid, int):
        raise LoginRequired()
    info = get_user(web_of(request).engine, uid)
    if (info is None or info.disabled
            or request.session.get("ph") != security.password_stamp(info.password_hash)):
        security.end_session(request)
        raise LoginRequired()
    user = CurrentUser(info.user_id, info.username, info.role)
    request.state.user = user
    return user


def require(role: str) -> Any:
    """Dependency: the signed-in user, who must hold ``role`` or a higher one."""

    def dependency(user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
        if not user.can(role):
            raise Forbidden(f"This needs the {role} role; you are signed in as {user.role}.")
        return user

    return dependency


# Parameter types of the page handlers: who may call them.
SignedIn = Annotated[CurrentUser, Depends(current_user)]
Supervisor = Annotated[CurrentUser, Depends(require("supervisor"))]
Admin = Annotated[CurrentUser, Depends(require("admin"))]


def safe_next(url: str | None, default: str = "/queue") -> str:
    """A local path to return to after sign-in (no open redirect to another site)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


def redirect(url: str) -> RedirectResponse:
    """303 See Other: the browser follows a form post with a GET."""
    return RedirectResponse(url, status_code=303)


# --------------------------------------------------------------------------- error pages


def _error(request: Request, status: int, heading: str, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "error.html", status_code=status,
                  heading=heading, message=message)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/queue"
        return redirect("/login?next=" + quote(target, safe=""))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, "Not allowed", exc.message)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return _error(request, 403, "Form expired",
                      "The form was not sent from an open page of this application (missing or "
                      "wrong security token). Reload the page and try again.")

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError) -> Response:
        return _error(request, 400, "Cannot do that", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
                           for e in exc.errors())
        return _error(request, 422, "Invalid input", f"Check these fields: {fields}.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        heading = {404: "Not found", 405: "Not allowed"}.get(exc.status_code, "Error")
        return _error(request, exc.status_code, heading, str(exc.detail))


# --------------------------------------------------------------------------- the app


def create_app(settings: Settings, workspace: Workspace, engine: Engine,
               secret: str | None = None) -> FastAPI:
    """The review application on one workspace and alert store. ``secret`` signs the session
    cookies (default: from the environment or the workspace, see security.session_secret)."""
    from pipeline.web.pages import admin, alerts, auth, maps, queue, runs, vessels, watchlist

    key = secret or security.session_secret(settings.web, workspace.home)
    app = FastAPI(
        title="vessel-risk review",
        docs_url=None, redoc_url=None, openapi_url=None,  # not a public API
        dependencies=[Depends(security.csrf_protect)],
    )
    app.state.web = WebContext(settings, workspace, engine, Lake(workspace.lake),
                               build_templates())

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            if k == "Cache-Control" and request.url.path.startswith("/static/"):
                continue
            response.headers.setdefault(k, v)
        return response

    app.add_middleware(
        SessionMiddleware, secret_key=key, session_cookie=SESSION_COOKIE,
        max_age=int(settings.web.session_lifetime_h * 3600), same_site="lax",
        https_only=settings.web.secure_cookies,
    )
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    _install_handlers(app)
    for module in (auth, queue, alerts, maps, vessels, watchlist, runs, admin):
        app.include_router(module.router)
    return app
