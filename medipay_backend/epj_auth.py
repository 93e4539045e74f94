"""EPJ authentication: HTTP Basic with the client id and secret the operator issued.

Every EPJ endpoint learns its caller from `require_epj` (or, where the operator may call it
too, from `auth.require_clinic_reader`) and must scope each query to the caller's clinic; an
order or settlement of another clinic is answered exactly like a missing one (404), so ids
cannot be probed across clinics.
"""

from __future__ import annotations

from fastapi import Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from medipay.logs import get_logger
from medipay_backend.clinics import EpjCaller, authenticate_epj
from medipay_backend.deps import Services, get_services
from medipay_backend.problems import EPJ_AUTH_REQUIRED, INVALID_EPJ_CREDENTIALS, ProblemError

log = get_logger(__name__)
_basic = HTTPBasic(
    auto_error=False,
    scheme_name="epj",
    description="The EPJ credential: client id as user name, secret as password.",
)
_CHALLENGE = 'Basic realm="medipay-epj", charset="UTF-8"'


async def require_epj(
    credentials: HTTPBasicCredentials | None = Depends(_basic),
    services: Services = Depends(get_services),
) -> EpjCaller:
    if credentials is None:
        raise ProblemError(
            EPJ_AUTH_REQUIRED,
            "send the EPJ client id and secret with HTTP Basic authentication",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    client_id, secret = credentials.username, credentials.password
    cache = services.runtime.auth_cache
    caller = cache.get(client_id, secret)
    if caller is None:
        caller = await services.db.run(
            lambda session: authenticate_epj(session, client_id, secret))
        if caller is not None:
            cache.put(client_id, secret, caller)
    if caller is None:
        log.warning("epj credentials rejected", client_id=client_id[:64])
        raise ProblemError(
            INVALID_EPJ_CREDENTIALS,
            "the client id and secret are not valid, or the credential was revoked",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    return caller

