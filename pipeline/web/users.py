"""Accounts of the review application: create, list, disable, authenticate.

Users live in the alert store's ``users`` table (pipeline.alerts.store.User); this module is
the only code that writes it. Every change is recorded in the audit log with the acting
user (the admin's user name, or ``cli:<os user>`` from the command line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.alerts.audit import changed, write_audit
from pipeline.alerts.store import ROLES, User, session_scope, utcnow
from pipeline.errors import UserError
from pipeline.web.passwords import (
    check_password_policy,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-analyst-2025"  # printed by `make demo`; the demo workspace only
DEMO_ROLE = "supervisor"


@dataclass(frozen=True)
class UserInfo:
    """A user without the password hash (what pages and the CLI show)."""

    user_id: int
    username: str
    role: str
    disabled: bool
    created_at: datetime
    password_hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "username": self.username, "role": self.role,
                "disabled": self.disabled, "created_at": self.created_at.isoformat()}


def _info(u: User) -> UserInfo:
    return UserInfo(u.user_id, u.username, u.role, bool(u.disabled), u.created_at,
                    u.password_hash)


def _audit(session: Session, actor: str, action: str, user: User,
           before: dict[str, Any] | None) -> None:
    after = _info(user).as_dict()
    if before is not None:
        before, after = changed(before, after)
    write_audit(session, actor, action, "user", user.username, before, after)


def check_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise UserError(
            f"user name {username!r}: use 2-64 characters a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def add_user(engine: Engine, username: str, password: str, role: str, actor: str) -> UserInfo:
    """Create an account; refuses a taken name, an unknown role or a weak password."""
    name = check_username(username)
    check_role(role)
    problem = check_password_policy(password)
    if problem:
        raise UserError(problem)
    with session_scope(engine) as s:
        if s.scalar(select(User).where(User.username == name)) is not None:
            raise UserError(f"user {name!r} already exists")
        user = User(username=name, password_hash=hash_password(password), role=role,
                    disabled=False, created_at=utcnow())
        s.add(user)
        s.flush()
        _audit(s, actor, "user_add", user, None)
        return _info(user)


def list_users(engine: Engine) -> list[UserInfo]:
    with session_scope(engine) as s:
        return [_info(u) for u in s.scalars(select(User).order_by(User.username))]


def get_user(engine: Engine, user_id: int) -> UserInfo | None:
    with session_scope(engine) as s:
        u = s.get(User, user_id)
        return _info(u) if u is not None else None


def _change(engine: Engine, username: str, actor: str, action: str, **values: Any) -> UserInfo:
    name = username.strip().lower()
    with session_scope(engine) as s:
        user = s.scalar(select(User).where(User.username == name))
        if user is None:
            raise UserError(f"no user {name!r} (see `vessel-risk users list`)")
        before = _info(user).as_dict()
        for k, v in values.items():
            setattr(user, k, v)
        s.flush()
        _audit(s, actor, action, user, before)
        return _info(user)


def set_disabled(engine: Engine, username: str, disabled: bool, actor: str) -> UserInfo:
    """Disable (or enable again) an account; a disabled user's sessions end at once."""
    return _change(engine, username, actor, "user_disable" if disabled else "user_enable",
                   disabled=disabled)


def set_role(engine: Engine, username: str, role: str, actor: str) -> UserInfo:
    return _change(engine, username, actor, "user_role", role=check_role(role))


def set_password(engine: Engine, username: str, password: str, actor: str) -> UserInfo:
    problem = check_password_policy(password)
    if problem:
        raise UserError(problem)
    return _change(engine, username, actor, "user_password",
                   password_hash=hash_password(password))


def authenticate(engine: Engine, username: str, password: str) -> UserInfo | None:
    """The user when the name and password match an enabled account, else None. Costs one
    scrypt whether or not the account exists; upgrades an outdated hash on success."""
    name = username.strip().lower()
    with session_scope(engine) as s:
        user = s.scalar(select(User).where(User.username == name)) if name else None
        if user is None:
            verify_password(password, dummy_hash())
            return None
        if not verify_password(password, user.password_hash) or user.disabled:
            return None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return _info(user)


def ensure_demo_user(engine: Engine) -> tuple[str, str]:
    """Create the demo account (a supervisor, so every button works) when it is missing;
    returns (user name, password) for `make demo` to print. Idempotent: an existing demo
    account keeps its password unless it no longer matches, then it is reset."""
    with session_scope(engine) as s:
        user = s.scalar(select(User).where(User.username == DEMO_USERNAME))
        ok = user is not None and verify_password(DEMO_PASSWORD, user.password_hash)
        enabled = user is not None and not user.disabled and user.role == DEMO_ROLE
    if user is None:
        add_user(engine, DEMO_USERNAME, DEMO_PASSWORD, DEMO_ROLE, actor="demo")
    elif not ok or not enabled:
        _change(engine, DEMO_USERNAME, "demo", "user_reset", disabled=False, role=DEMO_ROLE,
                password_hash=hash_password(DEMO_PASSWORD))
    return DEMO_USERNAME, DEMO_PASSWORD
