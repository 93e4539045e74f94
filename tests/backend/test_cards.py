"""The masked-PAN rule: at most the first 6 and last 4 digits may be shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from medipay_backend.domain.cards import masked_pan_error


@st.composite
def pans(draw: st.DrawFn) -> str:
    """Luhn-valid card numbers of 12 to 19 digits."""
    length = draw(st.integers(12, 19))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return body + luhn.calc_check_digit(body)


def _group(text: str, separator: str) -> str:
    return separator.join(text[i : i + 4] for i in range(0, len(text), 4))


@given(pan=pans(), separator=st.sampled_from(["", " ", "-"]))
def test_full_pans_are_refused(pan: str, separator: str) -> None:
    assert masked_pan_error(_group(pan, separator)) is not None


@given(
    pan=pans(),
    lead=st.integers(0, 6),
    trail=st.integers(0, 4),
    mask=st.sampled_from("*Xx#"),
    separator=st.sampled_from(["", " ", "-"]),
)
def test_first_six_last_four_masks_are_accepted(
    pan: str, lead: int, trail: int, mask: str, separator: str
) -> None:
    masked = pan[:lead] + mask * (len(pan) - lead - trail) + pan[len(pan) - trail :]
    assert masked_pan_error(_group(masked, separator)) is None


@given(pan=pans(), extra=st.sampled_from(["lead", "trail", "middle"]))
def test_revealing_more_is_refused(pan: str, extra: str) -> None:
    hidden = len(pan) - 10
    if extra == "lead":
        masked = pan[:7] + "*" * (hidden - 1) + pan[-4:]
    elif extra == "trail":
        masked = pan[:6] + "*" * (hidden - 1) + pan[-5:]
    else:
        masked = pan[:6] + "*" + pan[7] + "*" * (hidden - 2) + pan[-4:]
    assert masked_pan_error(masked) is not None


@pytest.mark.parametrize("value", ["1234", "************1234", "XXXX XXXX XXXX 1234"])
def test_common_receipt_forms(value: str) -> None:
    assert masked_pan_error(value) is None


@pytest.mark.parametrize("value", ["", "  ", "4711 abcd", "12345", "Visa ****1234", "4111\n"])
def test_malformed_values(value: str) -> None:
    reason = masked_pan_error(value)
    assert reason is not None
    assert value.strip() == "" or value.strip() not in reason
