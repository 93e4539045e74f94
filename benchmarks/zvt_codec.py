"""ZVT codec speed: parse and build rates, and codec time as a share of the wire time.

    python benchmarks/zvt_codec.py [--seconds 2]

Messages: the Completion of a Registration (13-byte APDU, a real capture) and a Status
Information with a TLV container (215-byte APDU, a real contactless payment capture). The wire
time is what the same bytes take on the serial line at 9600 baud with 8N2 framing
(1 start + 8 data + 2 stop = 11 bits per byte), the spec's default.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from gateway.protocols import zvt

CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "zvt-captures"
BITS_PER_BYTE = 11
BAUD = 9600


def sample(name: str, fallback: zvt.Message) -> bytes:
    path = CAPTURES / name
    return path.read_bytes() if path.exists() else zvt.encode_message(fallback)


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second, measured in batches until `seconds` have passed."""
    calls, batch, start = 0, 64, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            fn()
        calls += batch
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    cases = {
        "Completion": sample("1620218414428PT.bin",
                             zvt.Completion(status_byte=0, terminal_id="29001006", currency=978)),
        "StatusInformation+TLV": sample("1618593839564PT.bin", zvt.StatusInformation(
            amount=1880, tlv=zvt.Tlv.of((0x1F1F, b"\x00\x99")))),
    }
    print(f"{'message':24} {'bytes':>5} {'parse/s':>10} {'build/s':>10} "
          f"{'wire ms':>8} {'parse/wire':>11} {'build/wire':>11}")
    for name, raw in cases.items():
        message = zvt.decode_frame(raw)
        assert zvt.encode_message(message) == raw
        parse_rate = rate(partial(zvt.decode_frame, raw), args.seconds)
        build_rate = rate(partial(zvt.encode_message, message), args.seconds)
        wire = len(raw) * BITS_PER_BYTE / BAUD
        print(f"{name:24} {len(raw):5d} {parse_rate:10.0f} {build_rate:10.0f} "
              f"{wire * 1000:8.2f} {1 / parse_rate / wire:11.5f} {1 / build_rate / wire:11.5f}")
    conn_raw = cases["StatusInformation+TLV"]
    frame = zvt.build_frame(conn_raw)

    def serial_receive() -> None:
        conn = zvt.ZvtConnection(zvt.Role.ECR, zvt.Framing.SERIAL)
        conn.send(zvt.Authorization(amount=1))
        conn.receive_data(b"\x06" + zvt.build_frame(b"\x80\x00\x00") + frame)
        conn.next_event()
        conn.next_event()

    serial_rate = rate(serial_receive, args.seconds)
    wire = (len(frame) + 9) * BITS_PER_BYTE / BAUD
    print(f"{'serial link + state':24} {len(frame) + 9:5d} {serial_rate:10.0f} {'':>10} "
          f"{wire * 1000:8.2f} {1 / serial_rate / wire:11.5f}")


if __name__ == "__main__":
    main()
