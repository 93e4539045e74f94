import io
import json

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.no import fodselsnummer

from medipay.clock import SimulatedClock
from medipay.logs import FNR_MASK, configure_logging, redact_text, redact_value

VISA = "4111111111111111"
FNR = "15076500565"  # valid check digits (a synthetic test number)


def test_pan_is_masked_to_first6_last4():
    assert redact_text(f"card {VISA} approved") == "card 411111******1111 approved"


def test_grouped_pan_is_masked():
    assert redact_text("4111 1111 1111 1111") == "411111******1111"
    assert redact_text("4111-1111-1111-1111") == "411111******1111"


def test_digit_runs_that_fail_luhn_are_left_alone():
    assert redact_text("order 4111111111111112") == "order 4111111111111112"


def test_national_id_is_removed():
    assert fodselsnummer.is_valid(FNR)
    assert redact_text(f"patient {FNR} billed") == f"patient {FNR_MASK} billed"


def test_eleven_digits_with_bad_check_digits_are_left_alone():
    assert redact_text("ref 15076500566") == "ref 15076500566"


def test_nested_values_and_ints_are_redacted():
    event = {"data": [{"pan": VISA}, (FNR,)], "fnr": int(FNR), "count": 3, "ok": True}
    assert redact_value(event) == {
        "data": [{"pan": "411111******1111"}, (FNR_MASK,)],
        "fnr": FNR_MASK,
        "count": 3,
        "ok": True,
    }


def test_logged_event_and_exception_text_are_redacted():
    stream = io.StringIO()
    configure_logging(SimulatedClock(), "info", json=True, stream=stream)
    log = structlog.get_logger("test")
    try:
        raise ValueError(f"bad card {VISA} for {FNR}")
    except ValueError:
        log.exception("failed", patient={"id": FNR}, note=f"pan={VISA}")
    line = stream.getvalue()
    assert VISA not in line and FNR not in line
    record = json.loads(line)
    assert record["patient"] == {"id": FNR_MASK}
    assert record["note"] == "pan=411111******1111"
    assert record["timestamp"].startswith("2026-01-05T08:00:00")


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_any_luhn_valid_pan_never_survives(prefix):
    pan = prefix + luhn.calc_check_digit(prefix)
    out = redact_text(f"x {pan} y")
    assert pan not in out
    assert out == f"x {pan[:6]}{'*' * (len(pan) - 10)}{pan[-4:]} y"


@pytest.mark.parametrize("text", ["", "no numbers here", "amount 12345 NOK"])
def test_ordinary_text_unchanged(text):
    assert redact_text(text) == text
