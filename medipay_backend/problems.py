"""RFC 7807 problem details: every error the API returns is `application/problem+json`.

Each kind of problem has a stable `type` URI under PROBLEM_BASE; clients branch on `type`,
people read `title` and `detail`. Validation problems carry an `errors` list (location,
message, error type) and never echo the rejected input, which could hold a card number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from medipay.logs import get_logger

PROBLEM_BASE = "https://medipay.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = get_logger(__name__)


@dataclass(frozen=True)
class ProblemType:
    slug: str
    title: str
    status: int

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


ADMIN_AUTH_REQUIRED = ProblemType("admin-auth-required", "Operator token required", 401)
INVALID_ADMIN_TOKEN = ProblemType("invalid-admin-token", "Operator token not accepted", 401)
SIGNATURE_REQUIRED = ProblemType("signature-required", "Signed request required", 401)
MALFORMED_SIGNATURE = ProblemType(
    "malformed-signature-headers", "Signature headers are malformed", 401
)
UNKNOWN_GATEWAY = ProblemType("unknown-gateway", "Gateway not enrolled", 401)
INVALID_SIGNATURE = ProblemType("invalid-signature", "Signature does not verify", 401)
STALE_TIMESTAMP = ProblemType("stale-timestamp", "Request timestamp outside allowed skew", 401)
REPLAYED_NONCE = ProblemType("replayed-nonce", "Request nonce already used", 401)
VALIDATION_FAILED = ProblemType("validation-failed", "Request is not valid", 422)
IDEMPOTENCY_CONFLICT = ProblemType(
    "idempotency-conflict", "Idempotency key reused with different content", 409
)
GATEWAY_KEY_CONFLICT = ProblemType(
    "gateway-key-conflict", "Gateway already enrolled with another key", 409
)
CLINIC_CONFLICT = ProblemType("clinic-conflict", "Clinic already exists with other details", 409)
ACCOUNT_CONFLICT = ProblemType(
    "account-conflict", "Account already exists with other details", 409
)
SECRET_UNAVAILABLE = ProblemType(
    "credential-secret-unavailable", "The credential's secret can no longer be shown", 409
)
EPJ_AUTH_REQUIRED = ProblemType("epj-auth-required", "EPJ credentials required", 401)
INVALID_EPJ_CREDENTIALS = ProblemType(
    "invalid-epj-credentials", "EPJ credentials not accepted", 401
)
ORDER_REJECTED = ProblemType("order-rejected", "Order rejected", 422)
REVERSAL_MISMATCH = ProblemType(
    "reversal-mismatch", "Reversal does not match the payment it names", 422
)
NOT_FOUND = ProblemType("not-found", "Not found", 404)
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", "Method not allowed", 405)
PAYLOAD_TOO_LARGE = ProblemType("payload-too-large", "Request body too large", 413)
INTERNAL_ERROR = ProblemType("internal-error", "Internal server error", 500)

_BY_STATUS = {p.status: p for p in (NOT_FOUND, METHOD_NOT_ALLOWED, PAYLOAD_TOO_LARGE)}


class Problem(BaseModel):
    """The problem+json body (RFC 7807); extension members are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


class ProblemError(Exception):
    """Raised anywhere below the HTTP layer's handlers to answer with a problem."""

    def __init__(
        self,
        problem: ProblemType,
        detail: str,
        *,
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.extensions = dict(extensions or {})
        self.headers = dict(headers or {})


def problem_response(
    problem: ProblemType,
    detail: str,
    *,
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
    }
    body.update(extensions or {})
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json bodies."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI errors without their `input` and `ctx` (which may hold the value)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.problem, exc.detail, extensions=exc.extensions, headers=exc.headers
    )


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    where = ", ".join(".".join(e["loc"]) for e in errors[:3])
    more = f" and {len(errors) - 3} more" if len(errors) > 3 else ""
    return problem_response(
        VALIDATION_FAILED,
        f"{len(errors)} invalid field(s): {where}{more}",
        extensions={"errors": errors},
    )


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    problem = _BY_STATUS.get(exc.status_code)
    if problem is not None:
        return problem_response(problem, str(exc.detail), headers=exc.headers)
    # RFC 7807 section 4.2: no extra semantics beyond the status code.
    body = {
        "type": "about:blank",
        "title": HTTPStatus(exc.status_code).phrase,
        "status": exc.status_code,
        "detail": str(exc.detail),
    }
    return JSONResponse(
        body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE, headers=exc.headers
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises the exception after this response, so the server logs it too.
    log.error("unhandled error", method=request.method, path=request.url.path, exc_info=exc)
    return problem_response(INTERNAL_ERROR, "The server failed; the error has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
