"""One task at a time per direction, as trio's own streams enforce."""

from __future__ import annotations

from types import TracebackType

import trio


class ConflictGuard:
    """`with guard:` raises `trio.BusyResourceError` if another task is already inside.

    Two tasks receiving from one stream would each get an arbitrary share of the bytes, which
    is always a bug; trio's streams refuse it the same way.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._held = False

    def __enter__(self) -> None:
        if self._held:
            raise trio.BusyResourceError(f"another task is already {self._what}")
        self._held = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._held = False
