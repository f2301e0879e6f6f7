"""``vessel-risk serve`` and ``vessel-risk users ...`` (registered in pipeline/cli.py by
``_register_web``): the review application and its accounts."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.errors import UserError

users_app = typer.Typer(help="Accounts of the review application (admin).",
                        no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 175)
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable result on stdout.")]
AsOpt = Annotated[str | None, typer.Option(
    "--as", help="Who is acting, for the audit log (default: $VESSEL_RISK_USER, else the OS "
                 "user).")]


def _engine(ctx: typer.Context) -> Any:
    from pipeline.alerts.store import database_url, open_store

    c = ctx.obj
    return open_store(database_url(c.settings, c.workspace))


def _actor(explicit: str | None) -> str:
    from pipeline.alerts.audit import resolve_actor

    return "cli:" + resolve_actor(explicit)


def _out(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def serve_cmd(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (default: web.host).")
                    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: web.port).",
                                             min=1, max=65535)] = None,
    demo_user: Annotated[bool, typer.Option(
        "--demo-user", help="Create the demo account if missing and print its login "
                            "(demo workspaces only).")] = False,
) -> None:
    """Serve the analysts' review application (queue, alerts, map, watchlist, run health).

    Everything it needs is served by the app itself (no internet). Sign in with an account
    made by `vessel-risk users add`.
    """
    import uvicorn

    from pipeline.alerts.store import database_url
    from pipeline.web.app import create_app
    from pipeline.web.users import ensure_demo_user, list_users

    c = ctx.obj
    settings, workspace = c.settings, c.workspace
    engine = _engine(ctx)
    app = create_app(settings, workspace, engine)
    bind_host = host or settings.web.host
    bind_port = port or settings.web.port
    shown = database_url(settings, workspace)
    if demo_user:
        name, password = ensure_demo_user(engine)
        console.print(f"demo login: user [bold]{name}[/] password [bold]{password}[/]")
    elif not list_users(engine):
        err_console.print("no accounts yet: create one with `vessel-risk users add NAME "
                          "--role admin`", style="yellow", markup=False, highlight=False)
    console.print(f"vessel-risk review on http://{bind_host}:{bind_port}/  "
                  f"(workspace {escape(str(workspace.home))}, store "
                  f"{escape(_hide_password(shown))}); Ctrl-C stops it", highlight=False)
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="info")


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@users_app.command("add")
def users_add_cmd(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="User name: a-z, 0-9, '.', '_', '-'.")],
    role: Annotated[str, typer.Option("--role", help="analyst, supervisor or admin.")
                    ] = "analyst",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input "
                                 "(scripts) instead of prompting.")] = False,
    actor: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an account (the password is prompted for, twice, unless --password-stdin)."""
    from pipeline.web.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = add_user(_engine(ctx), username, password, role, _actor(actor))
    if as_json:
        _out(user.as_dict())
        return
    console.print(f"user {escape(user.username)} added with role {user.role}")


@users_app.command("list")
def users_list_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the accounts with their roles and whether they are disabled."""
    from pipeline.web.users import list_users

    users = list_users(_engine(ctx))
    if as_json:
        _out([u.as_dict() for u in users])
        return
    table = Table(title=f"{len(users)} users", header_style="bold")
    for col in ("user", "role", "status", "created (UTC)"):
        table.add_column(col)
    for u in users:
        table.add_row(escape(u.username), u.role, "disabled" if u.disabled else "active",
                      u.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


def _set_disabled(ctx: typer.Context, username: str, disabled: bool, actor: str | None,
                  as_json: bool) -> None:
    from pipeline.web.users import set_disabled

    user = set_disabled(_engine(ctx), username, disabled, _actor(actor))
    if as_json:
        _out(user.as_dict())
        return
    console.print(f"user {escape(user.username)} {'disabled' if disabled else 'enabled'}"
                  + (": their sessions end now" if disabled else ""))


@users_app.command("disable")
def users_disable_cmd(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account to disable.")],
    actor: AsOpt = None, as_json: JsonOpt = False,
) -> None:
    """Disable an account: it cannot sign in and its open sessions end at once."""
    _set_disabled(ctx, username, True, actor, as_json)


@users_app.command("enable")
def users_enable_cmd(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account to enable again.")],
    actor: AsOpt = None, as_json: JsonOpt = False,
) -> None:
    """Enable a disabled account again."""
    _set_disabled(ctx, username, False, actor, as_json)


@users_app.command("set-password")
def users_password_cmd(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the new password from standard input.")] = False,
    actor: AsOpt = None,
) -> None:
    """Set a new password (the user's open sessions end)."""
    from pipeline.web.users import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise UserError("empty password")
    user = set_password(_engine(ctx), username, password, _actor(actor))
    console.print(f"password of {escape(user.username)} changed")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``users`` to the main CLI."""
    app.command("serve")(serve_cmd)
    app.add_typer(users_app, name="users")
