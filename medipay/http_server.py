"""Serve an ASGI app with hypercorn's trio worker, inside the caller's nursery.

`serve_asgi` reports the bound base URL through `task_status.started`, so tests can bind to
port 0 and learn the real port. Cancelling the surrounding scope stops the server.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve


def _hypercorn_config(host: str, port: int) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    # Our own structlog events describe requests; hypercorn's access log would only repeat them.
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 2.0
    return config


async def serve_asgi(
    app: Any,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` on host:port until cancelled; `task_status.started(base_url)`."""

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, _hypercorn_config(host, port)))
        task_status.started(binds[0])
