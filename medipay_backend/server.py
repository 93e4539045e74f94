"""The backend as a deployable: migrate the database, then serve the API until cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa
import trio

from medipay.clock import Clock
from medipay.http_server import serve_asgi
from medipay.logs import get_logger
from medipay_backend.app import create_app
from medipay_backend.config import (
    ADMIN_TOKEN_FILE_NAME,
    BackendConfig,
    ensure_data_dir,
    resolve_admin_token,
)
from medipay_backend.db import Database, make_engine, migrate

log = get_logger(__name__)


@dataclass(frozen=True)
class BackendHandle:
    """What a started backend tells its starter."""

    base_url: str
    admin_token: str


async def serve_backend(
    config: BackendConfig,
    clock: Clock,
    *,
    task_status: trio.TaskStatus[BackendHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Migrate the database, serve the API, report a `BackendHandle`; run until cancelled."""
    admin_token = await trio.to_thread.run_sync(resolve_admin_token, config)
    if not config.database_url:
        await trio.to_thread.run_sync(ensure_data_dir, config)
    url = config.resolved_database_url()
    engine = make_engine(url)
    try:
        await trio.to_thread.run_sync(migrate, engine)
        app = create_app(database=Database(engine), clock=clock, admin_token=admin_token)
        async with trio.open_nursery() as nursery:
            base_url = await nursery.start(
                partial(serve_asgi, app, config.http.host, config.http.port)
            )
            log.info(
                "backend listening",
                base_url=base_url,
                database=sa.make_url(url).render_as_string(hide_password=True),
                admin_token_source=(
                    "config" if config.admin_token
                    else str(config.data_dir / ADMIN_TOKEN_FILE_NAME)
                ),
            )
            task_status.started(BackendHandle(base_url=base_url, admin_token=admin_token))
    finally:
        engine.dispose()
