"""structlog set-up with a processor that redacts card numbers and national ID numbers.

PANs (13-19 digits passing the Luhn check, optionally grouped by spaces or dashes) are shown as
first 6 / last 4. Norwegian national ID numbers (fødselsnummer and D-numbers, 11 digits passing
both check digits) are replaced whole. Redaction walks every value of the event, nested dicts,
lists and tuples included, and the rendered exception text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from stdnum import luhn
from stdnum.no import fodselsnummer

from medipay.clock import Clock

# A digit run not glued to other digits; separators inside a PAN are single spaces or dashes.
_PAN_RE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_FNR_RE = re.compile(r"(?<!\d)\d{6}[ ]?\d{5}(?!\d)")
FNR_MASK = "[fnr-redacted]"


def _mask_pan(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"[ -]", "", raw)
    if not luhn.is_valid(digits):
        return raw
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def _mask_fnr(match: re.Match[str]) -> str:
    digits = match.group(0).replace(" ", "")
    return FNR_MASK if fodselsnummer.is_valid(digits) else match.group(0)


def redact_text(text: str) -> str:
    """Mask PANs and national ID numbers in free text."""
    return _FNR_RE.sub(_mask_fnr, _PAN_RE.sub(_mask_pan, text))


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        text = str(value)
        redacted = redact_text(text)
        return value if redacted == text else redacted
    if isinstance(value, Mapping):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(redact_value(item) for item in value)
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: runs after exceptions are formatted, so tracebacks are covered."""
    for key in list(event_dict):
        event_dict[key] = redact_value(event_dict[key])
    return event_dict


def _clock_timestamper(clock: Clock) -> Any:
    def add_timestamp(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict["timestamp"] = clock.now().isoformat(timespec="milliseconds")
        return event_dict

    return add_timestamp


def configure_logging(
    clock: Clock, level: str = "info", *, json: bool = False, stream: Any = None
) -> None:
    """Configure structlog once per process; every event passes through `redact_processor`."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _clock_timestamper(clock),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
