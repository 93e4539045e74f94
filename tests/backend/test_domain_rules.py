"""Pure rules: KID check digits, national IDs, scoring and invoice routing."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from medipay_backend.domain.identity import InvalidNationalId, age_on, parse_national_id
from medipay_backend.domain.kid import kid_error, make_kid, mod11_check_digit
from medipay_backend.domain.pricing import invoice_amounts, transaction_price
from medipay_backend.domain.routing import MAX_BOUGHT_AMOUNT, RoutingFacts, decide, needs_score
from medipay_backend.domain.scoring import CreditHistory, score

from .people import ADULT, CHILD_10, D_NUMBER, national_id

TODAY = date(2026, 1, 5)


@given(st.integers(0, 10**20), st.sampled_from(["mod10", "mod11"]))
def test_generated_kids_validate(number: int, scheme: str) -> None:
    kid = make_kid(number, scheme)  # type: ignore[arg-type]
    assert kid_error(kid, scheme) is None  # type: ignore[arg-type]
    assert len(kid) == 15 and kid.isdigit()


@given(st.text("0123456789", min_size=1, max_size=24), st.integers(0, 9))
def test_changing_the_check_digit_breaks_a_mod10_kid(payload: str, wrong: int) -> None:
    kid = payload + luhn.calc_check_digit(payload)
    assert kid_error(kid, "mod10") is None
    if str(wrong) != kid[-1]:
        assert kid_error(payload + str(wrong), "mod10") is not None


def test_mod11_known_values() -> None:
    # Weights 2,3,4,5,6,7,2,3,4 from the right: 9*2+8*3+7*4+6*5+5*6+4*7+3*2+2*3+1*4 = 174;
    # 174 % 11 = 9, so the check digit is 11 - 9 = 2.
    assert mod11_check_digit("123456789") == "2"
    assert kid_error("1234567892", "mod11") is None
    assert kid_error("1234567897", "mod11") is not None
    assert mod11_check_digit("0") == "0"


def test_national_ids() -> None:
    assert parse_national_id(ADULT, TODAY).birth_date == date(1985, 3, 14)
    assert parse_national_id(D_NUMBER, TODAY).kind == "d-number"
    assert parse_national_id(D_NUMBER, TODAY).birth_date == date(1979, 11, 30)
    assert age_on(parse_national_id(CHILD_10, TODAY).birth_date, TODAY) == 10
    born_later = national_id(date(2026, 3, 1))
    with pytest.raises(InvalidNationalId, match="future"):
        parse_national_id(born_later, TODAY)
    assert parse_national_id(born_later, date(2026, 3, 1)).birth_date == date(2026, 3, 1)
    with pytest.raises(InvalidNationalId):
        parse_national_id("abcdefghijk", TODAY)


@given(st.dates(date(1900, 1, 1), date(2039, 12, 31)), st.integers(0, 399), st.booleans())
def test_every_generated_national_id_parses(born: date, serial: int, d_number: bool) -> None:
    number = national_id(born, serial, d_number)
    parsed = parse_national_id(number, date(2040, 1, 1))
    assert parsed.birth_date == born


def test_age_turns_on_the_birthday() -> None:
    assert age_on(date(2010, 1, 6), date(2026, 1, 5)) == 15
    assert age_on(date(2010, 1, 5), date(2026, 1, 5)) == 16


def test_scoring_weighs_collection_most() -> None:
    assert score(CreditHistory()).approved
    assert score(CreditHistory(defaults=1)).approved  # one slip is not repeated default
    assert score(CreditHistory(defaults=2)).approved
    assert not score(CreditHistory(defaults=3)).approved
    assert not score(CreditHistory(claims_in_collection=1)).approved
    assert score(CreditHistory(claims_in_collection=1)).points > score(
        CreditHistory(defaults=2)).points
    assert not score(CreditHistory(payment_remarks=1, defaults=2)).approved


def _facts(**changes: object) -> RoutingFacts:
    base: dict[str, object] = dict(payer="patient", has_national_id=True, age=40, amount=50_000,
                                   always_fakturaservice=False, has_address=True,
                                   fakturaservice_enabled=True)
    base.update(changes)
    return RoutingFacts(**base)  # type: ignore[arg-type]


GOOD = score(CreditHistory())
POOR = score(CreditHistory(claims_in_collection=2))


@pytest.mark.parametrize(("facts", "scored", "expected"), [
    (_facts(), GOOD, ("bought", "good_score", "patient")),
    (_facts(), POOR, ("fakturaservice", "poor_score", "patient")),
    (_facts(age=16), GOOD, ("bought", "good_score", "patient")),
    (_facts(age=15), None, ("fakturaservice", "minor_under_16", "guardian")),
    (_facts(payer="company"), None, ("fakturaservice", "company_payer", "company")),
    (_facts(payer="other"), None, ("fakturaservice", "other_payer", "other_payer")),
    (_facts(has_national_id=False, age=None), None,
     ("fakturaservice", "no_national_id", "patient")),
    (_facts(amount=MAX_BOUGHT_AMOUNT + 1), None,
     ("fakturaservice", "amount_over_limit", "patient")),
    (_facts(amount=MAX_BOUGHT_AMOUNT), GOOD, ("bought", "good_score", "patient")),
    (_facts(always_fakturaservice=True), None,
     ("fakturaservice", "always_fakturaservice", "patient")),
    (_facts(payer="company", has_address=False), None,
     ("manual", "missing_address", "company")),
    (_facts(age=12, fakturaservice_enabled=False), None,
     ("manual", "fakturaservice_unavailable", "guardian")),
    (_facts(fakturaservice_enabled=False), POOR,
     ("manual", "score_failed_no_fakturaservice", "patient")),
    (_facts(has_address=False), POOR, ("manual", "missing_address", "patient")),
    (_facts(has_address=False), GOOD, ("manual", "missing_address", "patient")),
])
def test_routing(facts: RoutingFacts, scored: object, expected: tuple[str, str, str]) -> None:
    assert needs_score(facts) == (scored is not None)
    decision = decide(facts, scored)  # type: ignore[arg-type]
    assert (decision.route, decision.reason, decision.recipient) == expected
    assert decision.explanation


def test_bought_claim_may_use_the_registered_address() -> None:
    assert decide(_facts(has_address=False), GOOD, registered_address=True).route == "bought"
    with pytest.raises(ValueError):
        decide(_facts(), None)


def test_pricing() -> None:
    assert invoice_amounts(10_000, True, 5_900).total == 15_900
    assert invoice_amounts(10_000, False, 5_900).invoice_fee == 0
    assert transaction_price(10_000, 250, 125) == 375
    assert transaction_price(1, 0, 5_000) == 1  # half an øre rounds up
