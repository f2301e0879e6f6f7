"""Alembic environment of the alert store, configured in code by pipeline.alerts.store.

``open_store`` passes its connection in ``config.attributes["connection"]``; the command line
(``alembic -x url=...``) is supported for developers writing a new revision. SQLite alters
tables in batch mode (copy and move), PostgreSQL in place.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pipeline.alerts.store import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///path ...")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
