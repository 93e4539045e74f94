"""Who may call what: the operator's bearer token, and gateways' signed requests.

A signed request is checked in this order, each failure a 401 problem of its own type:
headers present and well formed, gateway enrolled, signature valid over the raw body, timestamp
within MAX_CLOCK_SKEW_SECONDS of the service's clock, nonce not seen before. Only a request
that passes everything has its nonce remembered, so forgeries cannot burn a gateway's nonces.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from sqlalchemy.orm import QueryableAttribute, Session

from medipay.logs import get_logger
from medipay.signing import (
    HEADER_GATEWAY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_CLOCK_SKEW_SECONDS,
)
from medipay_backend.deps import Services, get_services
from medipay_backend.epj_auth import require_epj
from medipay_backend.models import Gateway, GatewayNonce
from medipay_backend.problems import (
    ADMIN_AUTH_REQUIRED,
    INVALID_ADMIN_TOKEN,
    INVALID_SIGNATURE,
    MALFORMED_SIGNATURE,
    NOT_FOUND,
    REPLAYED_NONCE,
    SIGNATURE_REQUIRED,
    STALE_TIMESTAMP,
    UNKNOWN_GATEWAY,
    VALIDATION_FAILED,
    ProblemError,
)
from medipay_backend.signatures import (
    MalformedSignatureHeaders,
    MissingSignatureHeaders,
    SignedHeaders,
    nonce_expiry_cutoff,
    parse_signed_headers,
    request_target,
    signature_valid,
    within_skew,
)

log = get_logger(__name__)

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="operator",
    description="The operator token (config admin_token, or the data_dir/admin_token file).",
)
_BEARER_CHALLENGE = 'Bearer realm="medipay-backend"'


async def require_admin(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    services: Services = Depends(get_services),
) -> None:
    """Dependency: the request carries `Authorization: Bearer <admin_token>`."""
    if credentials is None:
        raise ProblemError(
            ADMIN_AUTH_REQUIRED,
            "send the operator token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": _BEARER_CHALLENGE},
        )
    given = credentials.credentials.encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, services.admin_token.encode("utf-8")):
        log.warning("operator token rejected")
        raise ProblemError(
            INVALID_ADMIN_TOKEN,
            "the operator token is not valid",
            headers={"WWW-Authenticate": _BEARER_CHALLENGE + ', error="invalid_token"'},
        )


@dataclass(frozen=True)
class AuthenticatedGateway:
    gateway_id: str


_SIGNATURE_PARAMETERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"},
     "description": text}
    for name, text in (
        (HEADER_GATEWAY, "The enrolled gateway id."),
        (HEADER_TIMESTAMP, "Unix time in seconds, decimal; within the allowed clock skew."),
        (HEADER_NONCE, "At least 16 random bytes as hex, never reused."),
        (HEADER_SIGNATURE, "Base64 Ed25519 signature of medipay.signing.canonical_request."),
    )
]


class SignedRoute(APIRoute):
    """A route that authenticates the gateway's signature before anything else happens.

    FastAPI parses and validates a JSON body before it runs dependencies; wrapping the route
    handler instead means an unsigned or forged request gets its 401 without the body being
    looked at, and the signature is checked over the raw bytes exactly as they arrived.
    Endpoints learn the caller through the `signed_gateway` dependency.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = dict(kwargs.pop("openapi_extra", None) or {})
        extra["parameters"] = [*extra.get("parameters", []), *_SIGNATURE_PARAMETERS]
        super().__init__(path, endpoint, openapi_extra=extra, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def signed_handler(request: Request) -> Response:
            request.state.signed_gateway = await authenticate_gateway(request)
            return await handler(request)

        return signed_handler


def signed_gateway(request: Request) -> AuthenticatedGateway:
    """Dependency: the gateway that signed this request (only on `SignedRoute` routes)."""
    gateway = getattr(request.state, "signed_gateway", None)
    if not isinstance(gateway, AuthenticatedGateway):
        raise RuntimeError("signed_gateway used on a route that is not a SignedRoute")
    return gateway


async def authenticate_gateway(request: Request) -> AuthenticatedGateway:
    """Check the request's signature headers against the raw body (module docstring)."""
    services = get_services(request)
    try:
        signed = parse_signed_headers(request.headers)
        target = request_target(
            request.scope.get("raw_path") or request.scope["path"].encode("utf-8"),
            request.scope.get("query_string", b""),
        )
    except MissingSignatureHeaders as exc:
        raise ProblemError(SIGNATURE_REQUIRED, str(exc)) from exc
    except MalformedSignatureHeaders as exc:
        raise ProblemError(MALFORMED_SIGNATURE, str(exc)) from exc
    body = await request.body()
    now = services.clock.now()

    def check(session: Session) -> None:
        _check_signed_request(session, signed, request.method, target, body, now)

    try:
        await services.db.run(check)
    except sa.exc.IntegrityError as exc:
        # A concurrent request inserted the same nonce between our check and our insert.
        log.warning("signed request rejected", gateway_id=signed.gateway_id, problem="replay")
        raise _replayed() from exc
    except ProblemError as exc:
        log.warning(
            "signed request rejected", gateway_id=signed.gateway_id, problem=exc.problem.slug
        )
        raise
    return AuthenticatedGateway(signed.gateway_id)


def _check_signed_request(
    session: Session,
    signed: SignedHeaders,
    method: str,
    target: str,
    body: bytes,
    now: datetime,
) -> None:
    gateway = session.get(Gateway, signed.gateway_id)
    if gateway is None:
        raise ProblemError(UNKNOWN_GATEWAY, f"gateway {signed.gateway_id!r} is not enrolled")
    if not signature_valid(gateway.public_key, signed, method, target, body):
        raise ProblemError(
            INVALID_SIGNATURE,
            "the signature does not match the request and the gateway's enrolled key",
        )
    if not within_skew(signed.signed_at, now):
        raise ProblemError(
            STALE_TIMESTAMP,
            f"the request timestamp is more than {MAX_CLOCK_SKEW_SECONDS} s from the "
            f"server's time ({now.isoformat()}); check the gateway's clock",
            extensions={"server_time": now.isoformat()},
        )
    _purge_stale_nonces(session, now)
    if session.get(GatewayNonce, (signed.gateway_id, signed.nonce_key)) is not None:
        raise _replayed()
    session.add(
        GatewayNonce(
            gateway_id=signed.gateway_id,
            nonce=signed.nonce_key,
            signed_at=signed.signed_at,
            seen_at=now,
        )
    )
    session.flush()


def _purge_stale_nonces(session: Session, now: datetime) -> None:
    """Forget nonces that can no longer pass the timestamp check.

    Rows another transaction is already deleting are skipped (PostgreSQL; SQLite serialises
    writers anyway), so concurrent requests never wait on, or deadlock over, the purge.
    """
    stale = (
        sa.select(GatewayNonce.gateway_id, GatewayNonce.nonce)
        .where(GatewayNonce.signed_at < nonce_expiry_cutoff(now))
        .with_for_update(skip_locked=True)
    )
    session.execute(
        sa.delete(GatewayNonce).where(
            sa.tuple_(GatewayNonce.gateway_id, GatewayNonce.nonce).in_(stale)
        )
    )


def _replayed() -> ProblemError:
    return ProblemError(
        REPLAYED_NONCE, "this nonce was already used; sign every request with a fresh nonce"
    )


# Reading settlements and reports: the operator, or an EPJ for the clinics of its credential.

# The same scheme as `epj_auth` (same name, so OpenAPI shows one "epj" scheme).
_epj_basic = HTTPBasic(
    auto_error=False,
    scheme_name="epj",
    description="The EPJ credential: client id as user name, secret as password.",
)
_EITHER_CHALLENGE = _BEARER_CHALLENGE + ', Basic realm="medipay-epj", charset="UTF-8"'


@dataclass(frozen=True)
class ClinicScope:
    """The clinics a caller may read: every clinic for the operator (`clinics` None), the
    clinics its credential covers for an EPJ. Routes filter through it once, so a clinic out
    of scope is answered exactly like one that does not exist (404 `not-found`, as orders do)
    and a listing never includes another clinic's rows."""

    clinics: frozenset[str] | None

    @property
    def is_operator(self) -> bool:
        return self.clinics is None

    def allows(self, clinic_id: str) -> bool:
        return self.clinics is None or clinic_id in self.clinics

    def check(self, clinic_id: str | None) -> None:
        """Raise the not-found problem for a clinic the caller may not read."""
        if clinic_id is not None and not self.allows(clinic_id):
            raise ProblemError(NOT_FOUND, f"no clinic {clinic_id!r} for this credential")

    def restrict(
        self, column: sa.ColumnElement[str] | QueryableAttribute[str]
    ) -> sa.ColumnElement[bool]:
        """A WHERE clause keeping the caller's clinics' rows (always true for the operator)."""
        if self.clinics is None:
            return sa.true()
        return column.in_(sorted(self.clinics))

    def single_clinic(self, clinic_id: str | None) -> str | None:
        """The clinic a one-clinic filter should use: the one asked for (checked), else for an
        EPJ its credential's clinic, else (the operator) None for every clinic."""
        self.check(clinic_id)
        if clinic_id is not None or self.clinics is None:
            return clinic_id
        if len(self.clinics) == 1:
            return next(iter(self.clinics))
        raise ProblemError(
            VALIDATION_FAILED, "clinic_id is required: this credential covers several clinics",
            extensions={"errors": [{"loc": ["query", "clinic_id"], "msg": "field required",
                                    "type": "missing"}]})


OPERATOR_SCOPE = ClinicScope(None)


async def require_clinic_reader(
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    basic: HTTPBasicCredentials | None = Depends(_epj_basic),
    services: Services = Depends(get_services),
) -> ClinicScope:
    """Dependency: the operator token (`Authorization: Bearer`), or an EPJ credential (HTTP
    Basic) scoped to its clinic. Each is checked exactly as on its own endpoints, with the
    same 401 problems; with neither, `admin-auth-required` offering both schemes."""
    if basic is not None:
        caller = await require_epj(basic, services)
        return ClinicScope(frozenset({caller.clinic_id}))
    if bearer is None:
        raise ProblemError(
            ADMIN_AUTH_REQUIRED,
            "send the operator token as 'Authorization: Bearer <token>', or the EPJ client id "
            "and secret with HTTP Basic authentication",
            headers={"WWW-Authenticate": _EITHER_CHALLENGE},
        )
    await require_admin(bearer, services)
    return OPERATOR_SCOPE
