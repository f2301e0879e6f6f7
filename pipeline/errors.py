"""Errors meant for a person: one message naming the file, line or field and what to do."""


class UserError(Exception):
    """A problem the user can fix; the CLI prints the message and exits with status 2."""
