"""Every example scenario runs and meets its expectations; a run repeats exactly."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from firmware_sim.scenario import ScenarioError, load_scenario, parse_scenario
from firmware_sim.scenario_run import run_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
FILES = sorted(EXAMPLES.glob("*.toml"))


def transport(path: Path) -> str:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("transport", "memory")


def test_there_are_examples():
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", [p for p in FILES if transport(p) != "pty"],
                         ids=lambda p: p.stem)
async def test_example(path, autojump_clock):
    report = await run_scenario(load_scenario(path))
    assert report.ok, report.render()


@pytest.mark.parametrize("path", [p for p in FILES if transport(p) == "pty"],
                         ids=lambda p: p.stem)
async def test_example_on_a_pty(path, pty_clock):
    report = await run_scenario(load_scenario(path))
    assert report.ok, report.render()


async def test_same_seed_same_run(autojump_clock):
    scenario = load_scenario(EXAMPLES / "happy-day.toml")
    first = await run_scenario(scenario)
    second = await run_scenario(scenario)
    assert first.display == second.display and first.receipts == second.receipts
    assert first.journal == second.journal
    assert first.display[1].startswith("2026-01-05 08:30:00")
    other = await run_scenario(scenario, seed=99)
    codes = [b["auth_code"] for b in first.journal]
    assert codes != [b["auth_code"] for b in other.journal]  # the seed picks the auth codes


async def test_happy_day_also_runs_over_tcp(autojump_clock):
    report = await run_scenario(load_scenario(EXAMPLES / "happy-day.toml"), transport="tcp")
    assert report.ok, report.render()


async def test_failed_expectations_are_reported(autojump_clock):
    scenario = parse_scenario({"steps": [
        {"do": "register"},
        {"do": "pay", "amount": 100, "expect": {"status": "declined", "receipt": "NOPE"}},
    ], "expect": {"totals": {"count": 5}}})
    report = await run_scenario(scenario)
    assert not report.ok
    assert report.failures == [
        "steps[1]: status: expected 'declined', got 'approved'",
        "steps[1]: receipt: no line 'NOPE'",
        "totals.count: expected 5, got 1",
    ]
    assert "[FAIL] steps[1]" in report.render()


@pytest.mark.parametrize(("data", "message"), [
    ({"transport": "carrier-pigeon"}, "transport is one of"),
    ({"terminal": {"host_delai": 1}}, "terminal: unknown keys ['host_delai']"),
    ({"terminal": {"print_mode": "fax"}}, "print_mode"),
    ({"customers": [{"card": "platinum"}]}, "customers[0]: no card named 'platinum'"),
    ({"customers": [{"cancel": "later"}]}, "customers[0]"),
    ({"faults": [{"kind": "gremlins"}]}, "faults[0]"),
    ({"faults": [{"kind": "noise", "ber": 0.9}]}, "faults[0]: noise needs"),
    ({"steps": [{"do": "dance"}]}, "steps[0]: 'do' is one of"),
    ({"steps": [{"do": "pay"}]}, "steps[0]: pay needs an integer amount"),
    ({"steps": [{"do": "pay", "amount": 5, "expect": {"colour": "red"}}]}, "steps[0].expect"),
    ({"cards": [{"scheme": "VISA", "pan": "4111111111111111", "expiry": "3012"}]},
     "cards[0]: a card needs a name"),
    ({"start": "2026-01-05T09:00:00"}, "UTC offset"),
])
def test_bad_scenarios_name_the_place(data, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(data)


def test_extra_cards_join_the_deck():
    scenario = parse_scenario({"cards": [{"name": "gold", "scheme": "AMEX",
                                          "pan": "378282246310005", "expiry": "3012",
                                          "balance": 100}]})
    gold = scenario.deck[-1]
    assert gold.name == "gold" and gold.card_type == 8 and gold.balance == 100
