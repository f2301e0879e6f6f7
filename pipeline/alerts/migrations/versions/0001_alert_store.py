"""The alert store: users, alerts and their evidence, notes, dispositions, watchlist, audit
log and stage runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint("role IN ('analyst', 'supervisor', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(32), primary_key=True),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("mmsi", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("region", sa.String(64)),
        sa.Column("reason_codes", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(128)),
        sa.Column("imo", sa.BigInteger()),
        sa.Column("call_sign", sa.String(32)),
        sa.Column("flag", sa.String(8)),
        sa.Column("departure_zone", sa.String(128)),
        sa.Column("watchlist_hit", sa.Boolean(), nullable=False),
        sa.Column("watchlist_entry_id", sa.String(32)),
        sa.Column("evidence_strength", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disposition", sa.String(16)),
        sa.Column("assignee", sa.String(64)),
        sa.Column("analyst", sa.String(64)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('new', 'in_review', 'escalated', 'closed')", name="ck_alerts_status"
        ),
        sa.CheckConstraint(
            "disposition IS NULL OR disposition IN "
            "('confirmed', 'suspicious', 'benign', 'false_positive')",
            name="ck_alerts_disposition",
        ),
    )
    op.create_index("ix_alerts_date", "alerts", ["date"])
    op.create_index("ix_alerts_mmsi", "alerts", ["mmsi"])
    op.create_index("ix_alerts_status", "alerts", ["status"])
    op.create_table(
        "alert_evidence",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32),
                  sa.ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("start_time", TS, nullable=False),
        sa.Column("end_time", TS, nullable=False),
        sa.Column("lat", sa.Float()),
        sa.Column("lon", sa.Float()),
        sa.Column("zone_id", sa.String(128)),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.UniqueConstraint("alert_id", "event_id", name="uq_alert_evidence_event"),
    )
    op.create_index("ix_alert_evidence_alert_id", "alert_evidence", ["alert_id"])
    op.create_table(
        "dispositions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32),
                  sa.ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False),
        sa.Column("mmsi", sa.BigInteger(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("analyst", sa.String(64), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_dispositions_alert_id", "dispositions", ["alert_id"])
    op.create_index("ix_dispositions_mmsi", "dispositions", ["mmsi"])
    op.create_index("ix_dispositions_date", "dispositions", ["date"])
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32),
                  sa.ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_notes_alert_id", "notes", ["alert_id"])
    op.create_table(
        "watchlist",
        sa.Column("entry_id", sa.String(32), primary_key=True),
        sa.Column("mmsi", sa.BigInteger()),
        sa.Column("imo", sa.BigInteger()),
        sa.Column("name", sa.String(128)),
        sa.Column("call_sign", sa.String(32)),
        sa.Column("name_key", sa.String(128)),
        sa.Column("call_sign_key", sa.String(32)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(255)),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("marking", sa.String(20), nullable=False),
        sa.Column("provenance", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "source IN ('alert', 'partner', 'incident', 'analyst')", name="ck_watchlist_source"
        ),
        sa.CheckConstraint(
            "marking IN ('TLP:CLEAR', 'TLP:GREEN', 'TLP:AMBER', 'TLP:AMBER+STRICT', 'TLP:RED')",
            name="ck_watchlist_marking",
        ),
    )
    op.create_index("ix_watchlist_mmsi", "watchlist", ["mmsi"])
    op.create_index("ix_watchlist_imo", "watchlist", ["imo"])
    op.create_index("ix_watchlist_name_key", "watchlist", ["name_key"])
    op.create_index("ix_watchlist_call_sign_key", "watchlist", ["call_sign_key"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("before", sa.JSON()),
        sa.Column("after", sa.JSON()),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_entity", "audit_log", ["entity_type", "entity_id"])
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("date", sa.Date()),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.CheckConstraint("status IN ('ok', 'failed')", name="ck_runs_status"),
    )
    op.create_index("ix_runs_stage_date", "runs", ["stage", "date"])


def downgrade() -> None:
    for table in ("runs", "audit_log", "watchlist", "notes", "dispositions", "alert_evidence",
                  "alerts", "users"):
        op.drop_table(table)
