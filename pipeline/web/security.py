"""Sessions, CSRF tokens, the signed-in user and role checks of the review application.

Sessions are signed cookies (Starlette's SessionMiddleware, itsdangerous); the user row is
read again on every request, so disabling an account or changing its password ends its
sessions at once. Every state-changing request (any method but GET/HEAD/OPTIONS) must carry
the session's CSRF token in the form field ``csrf_token`` or the ``X-CSRF-Token`` header;
the check runs as an application-wide dependency, so a new POST route cannot forget it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request

from pipeline.errors import UserError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
ROLE_LEVEL = {"analyst": 1, "supervisor": 2, "admin": 3}
MIN_SECRET_CHARS = 32


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form (or 401 for the API)."""


class Forbidden(Exception):
    """The signed-in user's role does not allow the action."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user as the pages see it."""

    user_id: int
    username: str
    role: str

    def can(self, role: str) -> bool:
        """True when this user's role is ``role`` or above (analyst < supervisor < admin)."""
        return ROLE_LEVEL.get(self.role, 0) >= ROLE_LEVEL[role]


# --------------------------------------------------------------------------- secret


def session_secret(web: Any, home: Path, env: dict[str, str] | None = None) -> str:
    """The cookie-signing secret: ``$<web.secret_env>``, else ``<workspace>/<web.secret_file>``,
    generated (mode 0600) when missing so a first start needs no setup."""
    env = dict(os.environ) if env is None else env
    value = env.get(web.secret_env, "").strip()
    if value:
        if len(value) < MIN_SECRET_CHARS:
            raise UserError(
                f"${web.secret_env} is {len(value)} characters long; use at least "
                f"{MIN_SECRET_CHARS} random characters (e.g. `python -c 'import secrets; "
                f"print(secrets.token_urlsafe(48))'`)"
            )
        return value
    path = Path(web.secret_file)
    path = path if path.is_absolute() else home / path
    if path.is_file():
        value = path.read_text(encoding="utf-8").strip()
        if len(value) < MIN_SECRET_CHARS:
            raise UserError(f"{path}: session secret shorter than {MIN_SECRET_CHARS} characters; "
                            "delete the file to have a new one generated")
        return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two workers starting together do not overwrite each other's secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


# --------------------------------------------------------------------------- session helpers


def password_stamp(password_hash: str) -> str:
    """A short fingerprint of the stored hash kept in the session: a password change (new
    salt) invalidates every session made with the old one."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def start_session(request: Request, user_id: int, stamp: str) -> None:
    """Sign in: a fresh session (no fixation) with a fresh CSRF token."""
    request.session.clear()
    request.session.update({"uid": user_id, "ph": stamp, "csrf": secrets.token_urlsafe(32)})


def end_session(request: Request) -> None:
    request.session.clear()


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A one-time message shown on the next page (after the redirect of a form post)."""
    msgs = list(request.session.get("flash", []))[-4:]
    msgs.append([kind, message])
    request.session["flash"] = msgs


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    msgs = request.session.pop("flash", [])
    return [(str(k), str(m)) for k, m in msgs] if isinstance(msgs, list) else []


async def csrf_protect(request: Request) -> None:
    """Application-wide dependency: refuse a state-changing request whose token does not
    match the session's (compared in constant time)."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not (isinstance(expected, str) and sent and hmac.compare_digest(expected, sent)):
        raise CsrfFailed()
