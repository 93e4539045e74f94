import pytest

from gateway.operations import classify, mask_pan
from gateway.protocols import zvt
from gateway.terminal import Conversation


@pytest.mark.parametrize(
    ("pan", "masked"),
    [
        (None, None),
        ("411111******1111", "411111******1111"),
        ("4111111111111111", "411111******1111"),
        ("5555555555554444", "555555******4444"),
        ("1234", "1234"),
    ],
)
def test_full_pans_are_never_kept(pan, masked):
    assert mask_pan(pan) == masked


def test_approved_needs_result_zero_and_no_abort():
    ok = Conversation(status=zvt.StatusInformation(result_code=0, amount=100, receipt_number=3))
    assert classify(ok).status == "approved"
    declined = Conversation(status=zvt.StatusInformation(result_code=0x33),
                            aborted=zvt.AbortFromTerminal(result_code=0x33))
    assert classify(declined).status == "declined"
    timeout = Conversation(aborted=zvt.AbortFromTerminal(result_code=0x6C))
    assert classify(timeout).status == "aborted"
    assert classify(Conversation()).status == "failed"
