"""The operator's view of SMS: what the recording sender kept (local use and demos), and the
stored messages of an order (texts with the link's token masked)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from medipay_backend.auth import require_admin
from medipay_backend.deps import Services, get_services
from medipay_backend.problems import NOT_FOUND, ProblemError, problem_responses
from medipay_backend.sms.sender import RecordingSender

router = APIRouter(prefix="/v1/sms-outbox", tags=["sms"], dependencies=[Depends(require_admin)])


class RecordedSmsOut(BaseModel):
    message_id: str
    to: str
    text: str
    sent_at: datetime


class RecordedSmsList(BaseModel):
    items: list[RecordedSmsOut]


@router.get("", response_model=RecordedSmsList, responses=problem_responses(401, 404),
            summary="SMS kept by the recording sender (sms.url = record:), newest first")
async def get_outbox(services: Services = Depends(get_services)) -> RecordedSmsList:
    sender = services.runtime.sms
    if not isinstance(sender, RecordingSender):
        raise ProblemError(NOT_FOUND, "SMS go to an SMSC; there is no local outbox")
    return RecordedSmsList(items=[
        RecordedSmsOut(message_id=m.message_id, to=m.to, text=m.text, sent_at=m.sent_at)
        for m in reversed(sender.messages)
    ])
