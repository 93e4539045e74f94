"""A short-lived cache of verified EPJ credentials (see AUTH_CACHE_SECONDS)."""

from __future__ import annotations

import trio

from medipay_backend.clinics import EpjCaller, secret_hash

# A verified credential is trusted this long without a database round trip (it halves the
# transactions of an order request). Revocation in this process takes effect at once; in
# other processes of a multi-process deployment within this many seconds.
AUTH_CACHE_SECONDS = 30.0
AUTH_CACHE_SIZE = 10_000


class AuthCache:
    """Recently verified (client id, secret hash) pairs, on trio's clock."""

    def __init__(self, ttl: float = AUTH_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[EpjCaller, float]] = {}

    def get(self, client_id: str, secret: str) -> EpjCaller | None:
        key = (client_id, secret_hash(secret))
        found = self._entries.get(key)
        if found is None:
            return None
        caller, expires = found
        if trio.current_time() >= expires:
            del self._entries[key]
            return None
        return caller

    def put(self, client_id: str, secret: str, caller: EpjCaller) -> None:
        if len(self._entries) >= AUTH_CACHE_SIZE:
            self._entries.clear()
        self._entries[(client_id, secret_hash(secret))] = (caller, trio.current_time() + self.ttl)

    def forget(self, client_id: str) -> None:
        for key in [key for key in self._entries if key[0] == client_id]:
            del self._entries[key]
