"""Password hashing with the standard library's scrypt (memory-hard, no extra dependency).

The stored string carries its own parameters and salt (``scrypt$n$r$p$salt$hash``, base64),
so the cost can be raised later without invalidating existing accounts: a hash made with
weaker parameters still verifies and ``needs_rehash`` tells the login to upgrade it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N = 2**14  # CPU/memory cost: 16 MiB per hash with r=8 (OWASP minimum is 2**17 with r=8, p=1 ...
R = 8  # ... or an equivalent; 2**14 keeps a login under ~0.1 s on the 2-core PIU box)
P = 1
DKLEN = 32
SALT_BYTES = 16
MIN_PASSWORD_CHARS = 10
MAXMEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """A new salted scrypt hash of ``password`` in the self-describing stored form."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=DKLEN, maxmem=MAXMEM
    )
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    except ValueError:
        return None
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or not digest:
        return None
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash (constant-time comparison); False for
    a wrong password or a malformed/unknown stored value."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    try:
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=MAXMEM
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, digest)


def needs_rehash(stored: str) -> bool:
    """True when the stored hash was made with other parameters than the current ones."""
    parsed = _parse(stored)
    return parsed is None or parsed[:3] != (N, R, P)


def check_password_policy(password: str) -> str | None:
    """Why ``password`` is not acceptable for a new account, or None when it is."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"a password needs at least {MIN_PASSWORD_CHARS} characters"
    if password.strip() != password:
        return "a password must not start or end with spaces"
    return None


@functools.cache
def dummy_hash() -> str:
    """Verified against when the user name is unknown, so that a login for a missing account
    costs the same time as one with a wrong password (no user enumeration by timing)."""
    return hash_password(secrets.token_urlsafe(16))
