"""Crash campaign: the gateway killed with SIGKILL at random points of many transactions,
with the backend going down and up, and the books checked at the end.

    python benchmarks/crash_campaign.py --transactions 1000 --seed 7

Parts and where they run:

- the gateway: a subprocess, `python -m medipay gateway run -c gateway.toml`, its journal
  (SQLite) and key in a temporary data directory; killed with SIGKILL at a random moment
  after a request was sent (so during the journal write, the terminal's conversation, the
  outcome's commit, the answer or the uplink), and restarted after a random pause;
- the terminal: the simulator (`firmware_sim`) on TCP in this process, its host taking a
  moment (so kills land inside conversations), with customers who sometimes present a card
  that is declined or press STOP, and now and then dropping the connection or losing power
  at a random step of a transaction;
- the backend: `medipay_backend.server.serve_backend` in this process on a fixed port,
  stopped for a few requests now and then (an uplink outage) and started again;
- the EPJ: this process, one request at a time (payments, refunds, reversals of payments it
  was told were approved), each repeated with the same Idempotency-Key until its status is
  final; 409 request-in-progress / terminal-busy, 503 terminal-not-ready, `unknown` and
  connection errors are answered by asking again.

At the end the killing stops, the backend is up, one more payment (which carries 1F1F)
settles the terminal, and the campaign checks: every request has a final status; the
terminal's batch (approved and not reversed), what the EPJ was told, the gateway's journal
and the backend agree on every approved payment, refund and reversal, each reached the
backend exactly once, approved answers match the terminal's receipts; the uplink backlog is
empty and nothing was refused. A mismatch raises `CampaignFailure` with the seed. The same
seed gives the same requests, customers, kill delays and outages; the interleaving with the
real clock still varies, which is the point.

`tests/gateway/test_crash_campaign.py` runs a small campaign in CI.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

import trio

# The campaign's parts live in benchmarks/crash/ (see its modules); the names below stay
# importable from this file, which the CI test loads by its path.
from benchmarks.crash.campaign import Campaign, run_campaign
from benchmarks.crash.model import CampaignConfig, CampaignFailure, Counts, Request

__all__ = ["Campaign", "CampaignConfig", "CampaignFailure", "Counts", "Request", "main",
           "run_campaign"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None,
                        help="default: a random one (printed)")
    parser.add_argument("--kill-chance", type=float, default=CampaignConfig.kill_chance)
    parser.add_argument("--outage-chance", type=float, default=CampaignConfig.outage_chance)
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (journal, logs) for a look")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    config = CampaignConfig(transactions=args.transactions, seed=seed,
                            kill_chance=args.kill_chance, outage_chance=args.outage_chance)
    print(f"crash campaign: {config.transactions} transactions, seed {seed}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="crash-campaign-"))
    try:
        counts = trio.run(run_campaign, config, workdir)
    except CampaignFailure as exc:
        print(f"FAILED: {exc}\n(working directory kept: {workdir})", file=sys.stderr)
        return 1
    print(counts.render())
    print(f"transactions per second (kills included): "
          f"{counts.transactions / counts.elapsed_s:.1f}")
    if args.keep:
        print(f"working directory: {workdir}")
    else:
        _remove(workdir)
    return 0


def _remove(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: -len(p.parts)):
        if child.is_dir() and not child.is_symlink():
            child.rmdir()
        else:
            child.unlink()
    path.rmdir()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
