"""Pure ledger speed and memory: apply a million business transfers to `Ledger`.

    python benchmarks/ledger.py [--count 1000000] [--clinics 200] [--skip-memory]

The transfers follow the chart of accounts in a repeating pattern of ten: card
authorization + full capture, Vipps authorization + partial capture, a POS payment, an
authorization that is voided, a refund, a settlement fee and a claim purchase, spread over
`--clinics` clinics. They are built before the clock starts, so the rate is `apply` alone.

Two runs: a timed one without tracing, then the same work under tracemalloc for the peak
memory (tracing slows Python down, so its time is not reported). Memory is shown for the
whole run (transfers + ledger) and for the ledger's own structures on top of the transfers.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.ledger import (
    Account,
    Applied,
    Ledger,
    Transfer,
    chart,
    check_invariants,
    post_pending,
    postings,
    void_pending,
)
from medipay_backend.ledger.chart import Channel

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CHECKOUT = SettlementStream.CHECKOUT


def accounts(clinics: int) -> list[Account]:
    result = list(chart.provider_accounts())
    for n in range(clinics):
        result.extend(chart.clinic_accounts(f"clinic-{n}"))
    return result


def transfers(count: int, clinics: int) -> list[Transfer]:
    out: list[Transfer] = []
    step = timedelta(milliseconds=10)
    n = 0
    while len(out) < count:
        clinic = f"clinic-{n % clinics}"
        when = START + n * step
        base = f"o{n}"
        card = postings.payment(f"{base}:a", clinic, CHECKOUT, Channel.CARD, 45_000, when,
                                pending=True)
        vipps = postings.payment(f"{base}:v", clinic, CHECKOUT, Channel.VIPPS, 30_000, when,
                                 pending=True)
        voided = postings.payment(f"{base}:x", clinic, CHECKOUT, Channel.CARD, 9_900, when,
                                  pending=True)
        out.extend((
            card,
            post_pending(card, f"{base}:ac", when),
            vipps,
            post_pending(vipps, f"{base}:vc", when, amount=25_000),
            postings.payment(f"{base}:p", clinic, SettlementStream.POS, Channel.POS, 12_000,
                             when, pending=False),
            voided,
            void_pending(voided, f"{base}:xv", when),
            postings.refund(f"{base}:r", clinic, CHECKOUT, Channel.CARD, 5_000, when),
            postings.settlement_fee(f"{base}:f", clinic, CHECKOUT, 1_200, when),
            postings.claim_purchase(f"{base}:b", clinic, 64_900, when),
        ))
        n += 1
    return out[:count]


def apply_all(ledger: Ledger, batch: list[Transfer]) -> int:
    accepted = 0
    for transfer in batch:
        if isinstance(ledger.apply(transfer), Applied):
            accepted += 1
    return accepted


def timed_run(count: int, clinics: int) -> None:
    started = time.perf_counter()
    batch = transfers(count, clinics)
    built = time.perf_counter() - started
    ledger = Ledger(accounts(clinics))
    started = time.perf_counter()
    accepted = apply_all(ledger, batch)
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    check_invariants(ledger)
    checked = time.perf_counter() - started
    started = time.perf_counter()
    replayed = Ledger.from_transfers(ledger.accounts.values(), ledger.transfers())
    replay = time.perf_counter() - started
    assert accepted == count, f"only {accepted} of {count} accepted"
    assert replayed.balances() == ledger.balances()
    print(f"transfers            {count:>12,}   ({len(ledger.accounts):,} accounts)")
    print(f"build transfers      {built:>12.2f} s")
    print(f"apply                {elapsed:>12.2f} s   {count / elapsed:>12,.0f} transfers/s")
    print(f"check_invariants     {checked:>12.2f} s")
    print(f"replay (from_transfers) {replay:>9.2f} s   {count / replay:>12,.0f} transfers/s")


def memory_run(count: int, clinics: int) -> None:
    tracemalloc.start()
    try:
        batch = transfers(count, clinics)
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        ledger = Ledger(accounts(clinics))
        apply_all(ledger, batch)
        after, peak_apply = tracemalloc.get_traced_memory()
        del batch  # the ledger still holds every transfer
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mib = 1024 * 1024
    print(f"memory: transfers     {before / mib:>10.1f} MiB   ({before / count:,.0f} B each)")
    print(f"memory: ledger on top {(after - before) / mib:>10.1f} MiB   "
          f"({(after - before) / count:,.0f} B per transfer)")
    print(f"memory: peak          {peak_apply / mib:>10.1f} MiB   (transfers + ledger)")
    print(f"memory: ledger alone  {held / mib:>10.1f} MiB   (holding its transfers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--clinics", type=int, default=200)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    timed_run(args.count, args.clinics)
    if not args.skip_memory:
        memory_run(args.count, args.clinics)


if __name__ == "__main__":
    main()
