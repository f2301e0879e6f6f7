"""Errors meant for a person: one message naming the file, line or field and what to do."""

from __future__ import annotations

from datetime import date


class UserError(Exception):
    """A problem the user can fix; the CLI prints the message and exits with status 2."""


def parse_date(value: str, option: str = "--date") -> date:
    """A YYYY-MM-DD command-line value, or a UserError naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UserError(f"{option} {value!r}: expected a date as YYYY-MM-DD") from exc
