"""Operator endpoints for enrolling gateways and looking them up."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Path, Response, status

from medipay.logs import get_logger
from medipay_backend.auth import require_admin
from medipay_backend.deps import Services, get_services
from medipay_backend.gateways import (
    GatewayKeyConflict,
    GatewayRecord,
    enrol_gateway,
    get_gateway,
    list_gateways,
)
from medipay_backend.problems import (
    GATEWAY_KEY_CONFLICT,
    NOT_FOUND,
    ProblemError,
    problem_responses,
)
from medipay_backend.schemas import GATEWAY_ID_PATTERN, GatewayEnrolment, GatewayList, GatewayOut

log = get_logger(__name__)

router = APIRouter(prefix="/v1/gateways", tags=["gateways"], dependencies=[Depends(require_admin)])


def gateway_out(record: GatewayRecord) -> GatewayOut:
    return GatewayOut(
        gateway_id=record.gateway_id,
        name=record.name,
        public_key=base64.b64encode(record.public_key).decode("ascii"),
        enrolled_at=record.enrolled_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=GatewayOut,
    responses={200: {"model": GatewayOut, "description": "Already enrolled (or re-keyed)"},
               **problem_responses(401, 409, 422)},
    summary="Enrol a gateway's Ed25519 public key",
)
async def post_gateway(
    enrolment: GatewayEnrolment,
    response: Response,
    services: Services = Depends(get_services),
) -> GatewayOut:
    now = services.clock.now()
    key = enrolment.public_key_bytes()
    try:
        record, outcome = await services.db.run_check_then_insert(
            lambda session: enrol_gateway(
                session,
                enrolment.gateway_id,
                key,
                enrolment.name,
                replace=enrolment.replace,
                now=now,
            )
        )
    except GatewayKeyConflict as exc:
        raise ProblemError(
            GATEWAY_KEY_CONFLICT,
            f"gateway {exc.gateway_id!r} is enrolled with a different public key; "
            'send "replace": true to replace it',
            extensions={"gateway_id": exc.gateway_id},
        ) from exc
    if outcome != "enrolled":
        response.status_code = status.HTTP_200_OK
    if outcome != "unchanged":
        log.info("gateway enrolled", gateway_id=record.gateway_id, outcome=outcome)
    return gateway_out(record)


@router.get("", response_model=GatewayList, responses=problem_responses(401))
async def get_gateways(services: Services = Depends(get_services)) -> GatewayList:
    records = await services.db.run(list_gateways)
    return GatewayList(items=[gateway_out(record) for record in records])


@router.get("/{gateway_id}", response_model=GatewayOut, responses=problem_responses(401, 404))
async def get_one_gateway(
    gateway_id: str = Path(pattern=GATEWAY_ID_PATTERN),
    services: Services = Depends(get_services),
) -> GatewayOut:
    record = await services.db.run(lambda session: get_gateway(session, gateway_id))
    if record is None:
        raise ProblemError(NOT_FOUND, f"no gateway {gateway_id!r} is enrolled")
    return gateway_out(record)
