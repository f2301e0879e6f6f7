"""Accounts outside the browser: password hashing, the session secret, the demo account and
the `vessel-risk users` / `serve` commands."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine

from pipeline.errors import UserError
from pipeline.web.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)

CLI = [sys.executable, "-m", "pipeline.cli"]


def test_scrypt_hashes_are_salted_and_self_describing() -> None:
    a, b = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert a != b  # a fresh salt each time
    assert a.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse battery", a)
    assert not verify_password("correct horse batterY", a)
    assert not verify_password("anything", "md5$abc")  # unknown scheme: refused, no crash
    assert not verify_password("anything", "scrypt$3$8$1$AAAA$AAAA")  # n not a power of 2
    weak = hash_password("correct horse battery", n=2**10)
    assert verify_password("correct horse battery", weak) and needs_rehash(weak)
    assert not needs_rehash(a)
    assert check_password_policy("short") and check_password_policy(" padded-password ")
    assert check_password_policy("long-enough-1") is None


def test_login_upgrades_an_outdated_hash(store: Engine) -> None:
    from sqlalchemy import select

    from pipeline.alerts.store import User, session_scope
    from pipeline.web.users import add_user, authenticate

    add_user(store, "old", "old-password-1", "analyst", actor="t")
    with session_scope(store) as s:
        user = s.scalar(select(User).where(User.username == "old"))
        assert user is not None
        user.password_hash = hash_password("old-password-1", n=2**10)
    assert authenticate(store, "old", "old-password-1") is not None
    with session_scope(store) as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "old"))
    assert stored is not None and not needs_rehash(stored)
    assert authenticate(store, "OLD", "old-password-1") is not None  # names are lower case
    assert authenticate(store, "old", "wrong-password") is None


def test_session_secret_from_env_or_generated_file(tmp_path: Path) -> None:
    from pipeline.web.security import session_secret

    web = SimpleNamespace(secret_env="VR_TEST_SECRET", secret_file="web_secret")
    assert session_secret(web, tmp_path, {"VR_TEST_SECRET": "e" * 40}) == "e" * 40
    with pytest.raises(UserError, match="at least 32"):
        session_secret(web, tmp_path, {"VR_TEST_SECRET": "short"})
    first = session_secret(web, tmp_path, {})
    path = tmp_path / "web_secret"
    assert len(first) >= 32 and path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_secret(web, tmp_path, {}) == first  # kept across restarts


def test_demo_user_is_idempotent(store: Engine) -> None:
    from pipeline.web.users import authenticate, ensure_demo_user, list_users, set_disabled

    name, password = ensure_demo_user(store)
    assert ensure_demo_user(store) == (name, password)
    assert [u.username for u in list_users(store)] == [name]
    user = authenticate(store, name, password)
    assert user is not None and user.role == "supervisor"
    set_disabled(store, name, True, actor="t")
    ensure_demo_user(store)  # a demo restored to working order
    assert authenticate(store, name, password) is not None


def test_user_rules(store: Engine) -> None:
    from pipeline.web.users import add_user, set_disabled, set_role

    add_user(store, "Rina.K", "rina-password-1", "analyst", actor="t")
    with pytest.raises(UserError, match="already exists"):
        add_user(store, "rina.k", "rina-password-2", "analyst", actor="t")
    with pytest.raises(UserError, match="role"):
        add_user(store, "budi", "budi-password-1", "root", actor="t")
    with pytest.raises(UserError, match="user name"):
        add_user(store, "<b>", "budi-password-1", "analyst", actor="t")
    with pytest.raises(UserError, match="at least 10"):
        add_user(store, "budi", "short", "analyst", actor="t")
    with pytest.raises(UserError, match="no user"):
        set_disabled(store, "nobody", True, actor="t")
    assert set_role(store, "rina.k", "supervisor", actor="t").role == "supervisor"


def _cli(home: Path, db_url: str, *args: str, stdin: str | None = None) -> Any:
    """`vessel-risk ...` in this process (typer's runner): the same app as the console script."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    env = {k: v for k, v in os.environ.items() if not k.startswith("VESSEL_RISK")}
    env.update({"VESSEL_RISK_DB_URL": db_url, "VESSEL_RISK_USER": "ops-admin"})
    return CliRunner().invoke(app, ["--home", str(home), *args], input=stdin, env=env)


def test_users_cli_add_list_disable(tmp_path: Path, store_url: str, store: Engine) -> None:
    import json

    from pipeline.alerts.queries import audit_for
    from pipeline.web.users import authenticate

    r = _cli(tmp_path, store_url, "users", "add", "dewi", "--role", "supervisor",
             "--password-stdin", stdin="dewi-password-1\n")
    assert r.exit_code == 0, r.output
    assert "user dewi added with role supervisor" in r.stdout
    assert authenticate(store, "dewi", "dewi-password-1") is not None
    r = _cli(tmp_path, store_url, "users", "add", "dewi", "--password-stdin", stdin="x" * 12)
    assert isinstance(r.exception, UserError) and "already exists" in str(r.exception)
    r = _cli(tmp_path, store_url, "users", "list", "--json")
    assert [(u["username"], u["role"], u["disabled"]) for u in json.loads(r.stdout)] == [
        ("dewi", "supervisor", False)]
    r = _cli(tmp_path, store_url, "users", "disable", "dewi")
    assert r.exit_code == 0 and "disabled" in r.stdout
    assert authenticate(store, "dewi", "dewi-password-1") is None
    r = _cli(tmp_path, store_url, "users", "list")
    assert "dewi" in r.stdout and "disabled" in r.stdout
    assert [(a["actor"], a["action"]) for a in audit_for(store, "user", "dewi")] == [
        ("cli:ops-admin", "user_add"), ("cli:ops-admin", "user_disable")]


def test_users_cli_errors_are_one_message(tmp_path: Path) -> None:
    """The console script turns a refused password into one line and exit status 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESSEL_RISK")}
    r = subprocess.run([*CLI, "--home", str(tmp_path), "users", "add", "eko",
                        "--password-stdin"], input="short\n", capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: a password needs at least 10 characters"


@pytest.mark.parametrize("command", [["serve"], ["users", "add"]])
def test_web_commands_have_help(command: list[str], tmp_path: Path) -> None:
    r = subprocess.run([*CLI, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout


def test_serve_starts_the_app_with_the_demo_login(tmp_path: Path) -> None:
    """`vessel-risk serve --demo-user` on an empty workspace: prints the login, serves the
    sign-in page and accepts that login."""
    import re
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESSEL_RISK")}
    proc = subprocess.Popen([*CLI, "--home", str(tmp_path), "serve", "--port", str(port),
                             "--demo-user"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"{base}/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.3)
        assert page.status_code == 200 and "Sign in" in page.text
        with httpx.Client(base_url=base) as c:
            token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
            assert token
            r = c.post("/login", data={"username": "demo", "password": "demo-analyst-2025",
                                       "csrf_token": token.group(1)})
            assert r.status_code == 303 and r.headers["location"] == "/queue"
            assert "No alerts for" in c.get("/queue").text
        assert (tmp_path / "web_secret").is_file()  # generated on first start
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "demo login: user demo password demo-analyst-2025" in out
    assert f"http://127.0.0.1:{port}/" in out
