"""Sign in and sign out. Failed sign-ins are counted per user name: after a few in a row the
name is locked for a while, which makes guessing passwords slow without locking anyone out
for good."""

from __future__ import annotations

import time
from threading import Lock
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from pipeline.web import security
from pipeline.web.app import redirect, render, safe_next, web_of

router = APIRouter()

MAX_FAILURES = 5
LOCK_S = 300.0
MAX_TRACKED = 10_000  # user names with recent failures kept in memory
_lock = Lock()


def _locked(failures: dict[str, tuple[int, float]], name: str, now: float) -> bool:
    count, last = failures.get(name, (0, 0.0))
    return count >= MAX_FAILURES and now - last < LOCK_S


@router.get("/")
def home() -> Response:
    return redirect("/queue")


@router.get("/login")
def login_form(request: Request, next: str = "/queue") -> Response:
    return render(request, "login.html", next_url=safe_next(next), error=None, username="")


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/queue"
          ) -> Response:
    from pipeline.web.users import authenticate

    web = web_of(request)
    failures: dict[str, tuple[int, float]] = web.cache.setdefault("login_failures", {})
    name = username.strip().lower()[:64]
    now = time.monotonic()
    with _lock:
        locked = _locked(failures, name, now)
    user = None if locked else authenticate(web.engine, name, password)
    if user is None:
        with _lock:
            if len(failures) > MAX_TRACKED:  # bounded memory under a flood of made-up names
                for key in [k for k, (_, t) in failures.items() if now - t >= LOCK_S]:
                    del failures[key]
            count, _ = failures.get(name, (0, 0.0))
            failures[name] = (count + 1, now)
        message = ("Too many failed sign-ins for this user name; wait five minutes."
                   if locked else "Wrong user name or password, or the account is disabled.")
        return render(request, "login.html", status_code=401, next_url=safe_next(next),
                      error=message, username=username)
    with _lock:
        failures.pop(name, None)
    security.start_session(request, user.user_id, security.password_stamp(user.password_hash))
    return redirect(safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    security.end_session(request)
    return redirect("/login")
