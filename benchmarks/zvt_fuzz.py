"""Mutation fuzzing of the ZVT codec and state machine (not part of the test suite).

    python benchmarks/zvt_fuzz.py --inputs 1000000 [--seed 1] [--jobs 2]

Seeds are the real captures, the spec's example APDUs and freshly built messages of every type.
Each input is a mutated seed (bit flips, byte changes, inserts, deletes, truncation, splices,
tampered APDU/TLV/LLVAR lengths) or plain random bytes, pushed through:
  1. `decode_frame` (one APDU, TCP form),
  2. `decode_message` of the seed's own control field (reaches deep even when the length broke),
  3. a `ZvtConnection` in ECR or terminal role over TCP, and over serial framing (with the
     mutated APDU in a frame with a correct CRC, or the whole frame mutated).
Only `ZvtError` may come out. Anything else is a bug: it is counted, the first input of each
kind is printed as hex, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
import traceback
from collections import Counter
from pathlib import Path

from gateway.protocols import zvt
from gateway.protocols.zvt.serial_link import build_frame

CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "zvt-captures"


def seeds() -> list[bytes]:
    found = []
    for path in sorted(CAPTURES.glob("*.bin")):
        raw = path.read_bytes()
        if zvt.apdu.complete_length(raw) != len(raw):  # the two captures without LEN
            raw = raw[:2] + bytes([len(raw) - 2]) + raw[2:]
        found.append(raw)
    tlv = zvt.Tlv.of((0x1F1F, b"\x00\x2a"), (0x25, zvt.Tlv.of((0x09, b"\x81"), (0x07, b"Hei"))),
                     (0x27, zvt.Tlv.of((0x14, b"\x01"))))
    for message in [
        zvt.Registration(tlv=tlv, service_byte=1), zvt.Authorization(amount=12345, tlv=tlv,
                                                                     card_number="1234*6789"),
        zvt.Reversal(12, amount=5), zvt.Refund(99, aid="A0000001"), zvt.EndOfDay(tlv=tlv),
        zvt.Diagnosis(tlv=tlv), zvt.Abort(card_output_direction=1), zvt.StatusEnquiry(),
        zvt.RepeatReceipt(service_byte=1), zvt.LogOff(), zvt.Ack(tlv=tlv), zvt.Nack(0x9D, 100),
        zvt.StatusInformation(amount=1, masked_pan="4571****1234", card_name="VISA", tlv=tlv,
                              individual_totals=bytes(53), vu_number="123"),
        zvt.IntermediateStatus(0xFF, 2, tlv), zvt.Completion(sw_version="V1", terminal_status=0),
        zvt.Completion(status_byte=0, terminal_id="12345678", time="120000", date="240101"),
        zvt.AbortFromTerminal(0xFF, tlv), zvt.PrintLine(0x81, "Takk for handelen"),
        zvt.PrintLine(0xFF, feed_count=2), zvt.PrintTextBlock.from_lines(["a", "b"]),
        zvt.SetDateTimeInEcr(date="240101", time="101010"), zvt.RawApdu(0x06, 0xD8, b"\x01"),
    ]:
        found.append(zvt.encode_message(message))
    return found


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        op = rng.randrange(10)
        pos = rng.randrange(len(out)) if out else 0
        if op == 0 and out:
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[pos] = rng.randrange(256)
        elif op == 2:
            out.insert(pos, rng.randrange(256))
        elif op == 3 and out:
            del out[pos]
        elif op == 4:
            del out[pos:]
        elif op == 5:
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            out[pos:] = other[cut:]
        elif op == 6 and len(out) > 2:
            out[2] = rng.choice((0, 1, 0x7F, 0xFE, 0xFF, rng.randrange(256)))
        elif op == 7 and out:  # tamper with a TLV / LLVAR length near a BMP 06 or Fx byte
            hits = [i for i, b in enumerate(out[:-1]) if b == 0x06 or 0xF0 <= b <= 0xF9]
            if hits:
                out[rng.choice(hits) + 1] = rng.choice((0x00, 0x7F, 0x81, 0x82, 0xFF, 0xF9))
        elif op == 8 and out:
            out[pos:pos] = out[pos:pos + rng.randrange(1, 8)]
        elif op == 9:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
    return bytes(out)


def exercise(data: bytes, seed_header: bytes, index: int) -> Counter[str]:
    """Run one input through every entry point; returns outcome counts, raises on a bug."""
    outcome: Counter[str] = Counter()
    try:
        zvt.decode_frame(data)
        outcome["frame:event"] += 1
    except zvt.ZvtError:
        outcome["frame:typed-error"] += 1
    try:
        zvt.decode_message(seed_header[0], seed_header[1], data[3:])
        outcome["body:event"] += 1
    except zvt.ZvtError:
        outcome["body:typed-error"] += 1
    role = zvt.Role.ECR if index % 2 else zvt.Role.TERMINAL
    framing = zvt.Framing.SERIAL if index % 3 == 0 else zvt.Framing.TCP
    wire = data
    if framing is zvt.Framing.SERIAL:
        wire = build_frame(data) if index % 6 == 0 else mutate(random.Random(index),
                                                              build_frame(data), [data])
    conn = zvt.ZvtConnection(role, framing)
    try:
        if role is zvt.Role.ECR and index % 4 == 1:
            conn.send(zvt.Authorization(amount=1))
            conn.receive_data(b"\x06" + (build_frame(b"\x80\x00\x00")
                                         if framing is zvt.Framing.SERIAL else b"\x80\x00\x00"))
        conn.receive_data(wire)
        conn.receive_data(b"")
        for _ in range(64):
            event = conn.next_event()
            if event is zvt.NEED_DATA or isinstance(event, zvt.ConnectionClosed):
                break
            if event is zvt.PAUSED or not isinstance(event, zvt.Ack | zvt.Nack):
                answer = zvt.Ack() if role is zvt.Role.ECR else zvt.Nack(0x83)
                try:
                    conn.send(answer)
                except zvt.LocalProtocolError:
                    break
        outcome["conn:ok"] += 1
    except zvt.ZvtError:
        outcome["conn:typed-error"] += 1
    return outcome


def worker(args: tuple[int, int, int]) -> tuple[Counter[str], list[str], float]:
    seed, start, count = args
    rng = random.Random(seed * 1_000_003 + start)
    pool = seeds()
    totals: Counter[str] = Counter()
    bugs: list[str] = []
    began = time.perf_counter()
    for index in range(start, start + count):
        base = rng.choice(pool)
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(64))) \
            if index % 50 == 0 else mutate(rng, base, pool)
        try:
            totals += exercise(data, base[:2], index)
        except Exception as exc:  # noqa: BLE001 - the point is to catch what should not happen
            kind = f"{type(exc).__name__}: {exc}"[:120]
            totals["BUG"] += 1
            if not any(b.startswith(kind) for b in bugs):
                bugs.append(f"{kind}\n  input: {data.hex(' ')}\n{traceback.format_exc()}")
    return totals, bugs, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=multiprocessing.cpu_count())
    args = parser.parse_args()
    chunk = 5_000
    tasks = [(args.seed, start, min(chunk, args.inputs - start))
             for start in range(0, args.inputs, chunk)]
    totals: Counter[str] = Counter()
    bugs: list[str] = []
    began = time.perf_counter()
    with multiprocessing.Pool(args.jobs) as pool:
        for done, (counts, found, _) in enumerate(pool.imap_unordered(worker, tasks), 1):
            totals += counts
            bugs += [b for b in found if b.split("\n")[0] not in {x.split("\n")[0] for x in bugs}]
            if done % 20 == 0 or done == len(tasks):
                elapsed = time.perf_counter() - began
                print(f"{min(done * chunk, args.inputs):>9} inputs  {elapsed:7.1f} s  "
                      f"{min(done * chunk, args.inputs) / elapsed:8.0f} inputs/s  "
                      f"bugs {totals['BUG']}", flush=True)
    elapsed = time.perf_counter() - began
    print(f"\n{args.inputs} inputs in {elapsed:.1f} s ({args.inputs / elapsed:.0f}/s, "
          f"{args.jobs} jobs, seed {args.seed})")
    for key in sorted(totals):
        print(f"  {key:20} {totals[key]:>10}")
    for bug in bugs:
        print("\nBUG " + bug)
    return 1 if bugs else 0


if __name__ == "__main__":
    raise SystemExit(main())
