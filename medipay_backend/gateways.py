"""Enrolment of clinic gateways: which Ed25519 key speaks for which gateway id (blocking)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.models import Gateway

EnrolOutcome = Literal["enrolled", "unchanged", "replaced"]


class GatewayKeyConflict(Exception):
    """The gateway id is enrolled with another key and replacing it was not asked for."""

    def __init__(self, gateway_id: str) -> None:
        super().__init__(f"gateway {gateway_id!r} is enrolled with a different key")
        self.gateway_id = gateway_id


@dataclass(frozen=True)
class GatewayRecord:
    gateway_id: str
    name: str | None
    public_key: bytes
    enrolled_at: datetime

    @classmethod
    def of(cls, row: Gateway) -> GatewayRecord:
        return cls(row.gateway_id, row.name, row.public_key, row.enrolled_at)


def enrol_gateway(
    session: Session,
    gateway_id: str,
    public_key: bytes,
    name: str | None,
    *,
    replace: bool,
    now: datetime,
) -> tuple[GatewayRecord, EnrolOutcome]:
    """Enrol, confirm, or (with `replace`) re-key a gateway. A given name is kept or updated."""
    row = session.get(Gateway, gateway_id, with_for_update=True)
    if row is None:
        row = Gateway(gateway_id=gateway_id, name=name, public_key=public_key, enrolled_at=now)
        session.add(row)
        session.flush()
        return GatewayRecord.of(row), "enrolled"
    outcome: EnrolOutcome = "unchanged"
    if row.public_key != public_key:
        if not replace:
            raise GatewayKeyConflict(gateway_id)
        row.public_key = public_key
        row.enrolled_at = now
        outcome = "replaced"
    if name is not None and name != row.name:
        row.name = name
    session.flush()
    return GatewayRecord.of(row), outcome


def get_gateway(session: Session, gateway_id: str) -> GatewayRecord | None:
    row = session.get(Gateway, gateway_id)
    return None if row is None else GatewayRecord.of(row)


def list_gateways(session: Session) -> list[GatewayRecord]:
    rows = session.scalars(sa.select(Gateway).order_by(Gateway.gateway_id))
    return [GatewayRecord.of(row) for row in rows]
