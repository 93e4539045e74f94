"""Password hashing with scrypt, one-time passwords, and the password rules.

A stored hash is `scrypt$<n>$<r>$<p>$<salt>$<key>` (salt and key in unpadded URL-safe
base64): the cost parameters travel with each hash, so they can be raised later; a hash made
with weaker parameters is verified with its own and replaced at the next successful login
(`needs_rehash`). Keys are compared with `hmac.compare_digest`.

Hashing is CPU- and memory-heavy on purpose (about a quarter of a second); callers run it in
a worker thread and outside database transactions.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCHEME = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32
# Long enough for a pass phrase, short enough that nobody is asked to choose one;
# NIST SP 800-63B asks for at least 8 and allows 64+. Twelve keeps brute force out of reach
# for an account that can pay out credits.
MIN_PASSWORD_LENGTH = 12
# An upper bound so a megabyte "password" cannot be used to waste CPU.
MAX_PASSWORD_LENGTH = 200
# One-time passwords: 16 characters of Crockford's base32 (80 bits), no look-alikes
# (no I, L, O, U), shown in groups of four for reading over the phone.
OTP_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
OTP_LENGTH = 16


@dataclass(frozen=True)
class ScryptParams:
    """scrypt's cost: memory is 128 * n * r bytes per lane, time grows with n * r * p."""

    n: int
    r: int
    p: int

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.r < 1 or self.p < 1:
            raise ValueError(f"invalid scrypt parameters {self}")


# OWASP's equal-strength alternative to n=2**17, r=8, p=1 that needs 32 MiB instead of
# 128 MiB per login, so a few logins at once do not exhaust a small server.
DEFAULT_SCRYPT = ScryptParams(n=2**15, r=8, p=3)


class PasswordRuleError(ValueError):
    """A new password breaks a rule; the message is Norwegian, for the page."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
    return kdf.derive(password.encode("utf-8"))


def hash_password(password: str, params: ScryptParams = DEFAULT_SCRYPT) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, params)
    return f"{SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes]:
    scheme, n, r, p, salt, key = stored.split("$")
    if scheme != SCHEME:
        raise ValueError(f"unknown password scheme {scheme!r}")
    return ScryptParams(int(n), int(r), int(p)), _unb64(salt), _unb64(key)


def verify_password(password: str, stored: str) -> bool:
    """True if `password` matches `stored` (a value written by `hash_password`)."""
    params, salt, key = _parse(stored)
    if len(password) > MAX_PASSWORD_LENGTH:
        _derive("", salt, params)  # the same work as a real check: length is not revealed
        return False
    return hmac.compare_digest(_derive(password, salt, params), key)


def needs_rehash(stored: str, params: ScryptParams) -> bool:
    current, _, _ = _parse(stored)
    return current != params


def burn_time(params: ScryptParams) -> None:
    """The work of one verification, for logins of unknown e-mail addresses: their answer
    must take as long as a wrong password, or the timing would tell which addresses exist."""
    _derive("", b"\0" * SALT_BYTES, params)


def new_one_time_password() -> str:
    raw = "".join(secrets.choice(OTP_ALPHABET) for _ in range(OTP_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, OTP_LENGTH, 4))


def normalise_one_time_password(text: str) -> str:
    """Typed back as read: case, spaces and dashes do not matter; O/I/L read as 0/1/1."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    return "-".join(cleaned[i:i + 4] for i in range(0, len(cleaned), 4))


def check_new_password(password: str, repeated: str, *, email: str) -> None:
    """Raise `PasswordRuleError` if `password` may not be chosen."""
    if password != repeated:
        raise PasswordRuleError("Passordene er ikke like.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRuleError(
            f"Passordet må ha minst {MIN_PASSWORD_LENGTH} tegn.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRuleError(f"Passordet kan ha høyst {MAX_PASSWORD_LENGTH} tegn.")
    if password.strip() != password or not password.strip():
        raise PasswordRuleError("Passordet kan ikke begynne eller slutte med mellomrom.")
    if len(set(password)) < 4:
        raise PasswordRuleError("Passordet er for enkelt: bruk flere forskjellige tegn.")
    if password.casefold() == email.casefold() or email.split("@")[0].casefold() \
            == password.casefold():
        raise PasswordRuleError("Passordet kan ikke være e-postadressen din.")
