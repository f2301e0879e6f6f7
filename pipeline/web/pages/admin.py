"""User administration (admin role): list, add, change role, disable and enable accounts.
Every change goes through pipeline.web.users, which writes the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from pipeline.alerts.store import ROLES
from pipeline.errors import UserError
from pipeline.web.app import Admin, redirect, render, web_of
from pipeline.web.security import flash

router = APIRouter()


@router.get("/admin/users")
def users_page(request: Request, user: Admin) -> Response:
    from pipeline.alerts.queries import audit_for
    from pipeline.web.users import list_users

    web = web_of(request)
    users = list_users(web.engine)
    audits = {u.username: audit_for(web.engine, "user", u.username)[-3:] for u in users}
    return render(request, "users.html", nav="users", users=users, roles=ROLES, audits=audits)


@router.post("/admin/users")
def add(request: Request, user: Admin, username: Annotated[str, Form()],
        password: Annotated[str, Form()], role: Annotated[str, Form()] = "analyst"
        ) -> Response:
    from pipeline.web.users import add_user

    try:
        made = add_user(web_of(request).engine, username, password, role, actor=user.username)
    except UserError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, f"User {made.username} ({made.role}) added.")
    return redirect("/admin/users")


@router.post("/admin/users/{username}")
def change(request: Request, user: Admin, username: str, action: Annotated[str, Form()],
           role: Annotated[str, Form()] = "") -> Response:
    from pipeline.web.users import set_disabled, set_role

    engine = web_of(request).engine
    if username == user.username and action in ("disable", "role"):
        flash(request, "You cannot disable yourself or change your own role (ask another "
                       "admin, or use `vessel-risk users`).", "error")
        return redirect("/admin/users")
    try:
        if action == "disable":
            set_disabled(engine, username, True, actor=user.username)
        elif action == "enable":
            set_disabled(engine, username, False, actor=user.username)
        elif action == "role":
            set_role(engine, username, role, actor=user.username)
        else:
            raise UserError(f"unknown action {action[:20]!r}")
    except UserError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, f"User {username}: {action} done.")
    return redirect("/admin/users")
