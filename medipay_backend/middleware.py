"""Plain ASGI middleware: a request body size limit and one log event per request."""

from __future__ import annotations

from typing import Any

import trio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from medipay.logs import get_logger
from medipay_backend.problems import PAYLOAD_TOO_LARGE, problem_response

log = get_logger(__name__)


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with a 413 problem.

    A declared Content-Length over the limit is refused before the app runs. A body without
    one (chunked) is counted as it is read; crossing the limit raises an HTTP 413 inside the
    app, where the problem handlers turn it into problem+json.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(PAYLOAD_TOO_LARGE, self._detail())
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, counting_receive, send)

    def _detail(self) -> str:
        return f"request bodies are limited to {self.max_bytes} bytes"


class RequestLogMiddleware:
    """One structlog event per request: method, path, status, duration (no bodies, no query)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = trio.current_time()
        status: list[int] = []

        async def send_and_note(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            level = log.debug if scope["path"] == "/healthz" else log.info
            level(
                "http request",
                method=scope["method"],
                path=scope["path"],
                status=status[0] if status else None,
                duration_ms=round((trio.current_time() - started) * 1000, 1),
            )
