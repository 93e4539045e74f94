"""A small crash campaign in CI: the gateway as a subprocess, killed with SIGKILL during
transactions and restarted, the backend going down and up, the terminal dropping the line or
losing power, then the books must agree (see benchmarks/crash_campaign.py, which runs the
large one).

The seed is printed (pytest shows it on failure); repeat a run with
`MEDIPAY_CAMPAIGN_SEED=<seed> pytest tests/gateway/test_crash_campaign.py`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

CAMPAIGN_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "crash_campaign.py"
# A seed whose script has, among 24 transactions, 6 kills, 3 backend outages, 2 dropped
# terminal connections, a terminal power cut, refunds and reversals.
DEFAULT_SEED = 20260159


def load_campaign() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_campaign", CAMPAIGN_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


async def test_books_agree_after_kills_and_outages(tmp_path):
    campaign = load_campaign()
    seed = int(os.environ.get("MEDIPAY_CAMPAIGN_SEED", DEFAULT_SEED))
    print(f"crash campaign seed {seed} (MEDIPAY_CAMPAIGN_SEED={seed} repeats it)")
    config = campaign.CampaignConfig(transactions=24, seed=seed, kill_chance=0.25,
                                     outage_chance=0.1, outage_requests=4,
                                     disconnect_chance=0.1, power_cut_chance=0.04)
    counts = await campaign.run_campaign(config, tmp_path)
    print(counts.render())
    # The campaign checked the books itself (CampaignFailure otherwise); make sure the
    # script really hurt the gateway.
    assert counts.transactions == 24
    assert counts.kills >= 3 and counts.gateway_starts == counts.kills + 1
    assert counts.backend_outages >= 2
    assert counts.terminal_disconnects + counts.terminal_power_cuts >= 2
    assert counts.approved >= 1 and counts.delivered >= counts.approved
