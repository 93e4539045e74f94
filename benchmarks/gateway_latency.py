"""What the gateway adds to a payment's latency, and how fast it drains an uplink backlog.

    python benchmarks/gateway_latency.py [--payments 200] [--backlog 10000]

Everything runs on localhost in one trio process: the real gateway (EPJ API over HTTP,
journal in SQLite, uplink) and the real backend, with instrumented ZVT terminals that answer
at once. Per payment we record:

- request -> first byte: from the EPJ sending its HTTP request to the first byte of the
  Authorization arriving at the terminal (HTTP parsing, idempotency lookup, journal write);
- completion -> response: from the terminal writing its Completion to the EPJ holding the
  HTTP response (classification, journal commit with the outbox entry, HTTP answer).

Runs with 1 terminal and with 32 terminals paying at once. The drain figure is the time the
uplink takes to deliver a backlog of `--backlog` journalled transactions to the backend.
Timings share one event loop with the terminals and the backend, so they are upper bounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import trio

from gateway.config import ApiConfig, BackendLinkConfig, GatewayConfig, TerminalConfig
from gateway.journal import Outcome, PaymentRequest
from gateway.protocols import zvt
from gateway.service import run_gateway
from gateway.transactions import make_relay
from gateway.uplink.enrol import enrol_gateway
from gateway.uplink.sender import UplinkSender
from gateway.uplink.signing import RequestSigner, load_or_create_key
from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay_backend.config import BackendConfig, HttpConfig
from medipay_backend.server import serve_backend


@dataclass
class TerminalTimes:
    first_byte: list[float] = field(default_factory=list)
    completion_sent: list[float] = field(default_factory=list)


async def instant_terminal(stream: trio.SocketStream, times: TerminalTimes) -> None:
    """A terminal that approves every payment at once, noting when bytes come and go."""
    conn = zvt.ZvtConnection(zvt.Role.TERMINAL)
    receipt = 0
    idle = True
    while True:
        event = conn.next_event()
        if event is zvt.NEED_DATA:
            data = await stream.receive_some(4096)
            if not data:
                return
            if idle:
                times.first_byte.append(time.perf_counter())
                idle = False
            conn.receive_data(data)
            continue
        if isinstance(event, zvt.ConnectionClosed):
            return
        if isinstance(event, zvt.Registration):
            await stream.send_all(conn.send(zvt.Ack()) + conn.send(zvt.Completion()))
        elif isinstance(event, zvt.Authorization):
            receipt += 1
            await stream.send_all(conn.send(zvt.Ack()) + conn.send(zvt.StatusInformation(
                result_code=0, amount=event.amount, currency=zvt.CURRENCY_NOK,
                trace_number=receipt, receipt_number=receipt, masked_pan="411111******1111",
                card_name="VISA")))
        elif isinstance(event, zvt.Ack) and conn.state is not zvt.State.IDLE:
            await stream.send_all(conn.send(zvt.Completion()))
            times.completion_sent.append(time.perf_counter())
        elif isinstance(event, zvt.Ack):
            idle = True
        elif isinstance(event, zvt.StatusEnquiry):
            await stream.send_all(conn.send(zvt.Ack()) + conn.send(zvt.Completion()))


async def start_terminals(
    nursery: trio.Nursery, count: int
) -> tuple[list[int], list[TerminalTimes]]:
    ports, all_times = [], []
    for _ in range(count):
        times = TerminalTimes()
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        ports.append(listeners[0].socket.getsockname()[1])
        all_times.append(times)

        async def handler(stream: trio.SocketStream, times: TerminalTimes = times) -> None:
            async with stream:
                await instant_terminal(stream, times)

        nursery.start_soon(trio.serve_listeners, handler, listeners)
    return ports, all_times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def latency_run(data_dir: Path, terminals: int, payments: int) -> None:
    clock = SystemClock()
    async with trio.open_nursery() as nursery:
        backend = await nursery.start(serve_backend, replace(
            BackendConfig(), data_dir=data_dir / "backend", http=HttpConfig(port=0)), clock)
        ports, times = await start_terminals(nursery, terminals)
        config = GatewayConfig(
            gateway_id="gw-bench", data_dir=data_dir / "gateway", api=ApiConfig(port=0),
            backend=BackendLinkConfig(url=backend.base_url),
            terminals=tuple(TerminalConfig(id=f"T{n}", port=port)
                            for n, port in enumerate(ports)),
        )
        await enrol_gateway(backend.base_url, backend.admin_token, config.gateway_id,
                            load_or_create_key(config.data_dir))
        gateway = await nursery.start(run_gateway, config, clock)
        for supervisor in gateway.service.supervisors.values():
            while supervisor.state != "ready":
                await trio.sleep(0.01)
        for t in times:  # registration bytes are not payments
            t.first_byte.clear()
        sent: list[list[float]] = [[] for _ in range(terminals)]
        answered: list[list[float]] = [[] for _ in range(terminals)]

        async def epj(n: int, client: httpx.AsyncClient) -> None:
            for i in range(payments // terminals):
                sent[n].append(time.perf_counter())
                response = await client.post(
                    f"/v1/terminals/T{n}/payments", json={"amount": 100 + i},
                    headers={"Idempotency-Key": f"{n}-{i}"})
                answered[n].append(time.perf_counter())
                assert response.status_code == 201 and response.json()["status"] == "approved"

        async with httpx.AsyncClient(
            base_url=gateway.base_url, headers={"Authorization": f"Bearer {gateway.token}"},
            limits=httpx.Limits(max_connections=terminals + 4),
        ) as client, trio.open_nursery() as epjs:
            for n in range(terminals):
                epjs.start_soon(epj, n, client)
        inbound = [fb - s for n in range(terminals)
                   for s, fb in zip(sent[n], times[n].first_byte, strict=True)]
        outbound = [a - c for n in range(terminals)
                    for c, a in zip(times[n].completion_sent, answered[n], strict=True)]
        total = [a - s for n in range(terminals)
                 for s, a in zip(sent[n], answered[n], strict=True)]
        print(f"{terminals:>3} terminal(s), {len(inbound)} payments: "
              f"request->first byte p50 {pct(inbound, .5):6.2f} ms p99 {pct(inbound, .99):6.2f}"
              f" ms | completion->response p50 {pct(outbound, .5):6.2f} ms "
              f"p99 {pct(outbound, .99):6.2f} ms | mean total "
              f"{statistics.mean(total) * 1000:6.2f} ms")
        nursery.cancel_scope.cancel()


async def drain_run(data_dir: Path, backlog: int) -> None:
    from gateway.journal import Journal

    clock = SystemClock()
    async with trio.open_nursery() as nursery:
        backend = await nursery.start(serve_backend, replace(
            BackendConfig(), data_dir=data_dir / "backend", http=HttpConfig(port=0)), clock)
        journal = Journal.open(f"sqlite:///{data_dir / 'journal.sqlite3'}", clock)
        relay = make_relay("gw-drain")
        for n in range(backlog):
            record, _ = await journal.begin(PaymentRequest(f"k{n}", "T1", "payment", 100,
                                                           "NOK", None))
            await journal.complete(record.id, Outcome("approved", result_code=0,
                                                      trace_number=n + 1, receipt_number=n + 1,
                                                      masked_pan="411111******1111"), relay)
        key = load_or_create_key(data_dir / "gw")
        await enrol_gateway(backend.base_url, backend.admin_token, "gw-drain", key)
        sender = UplinkSender(journal, RequestSigner("gw-drain", key, clock),
                              BackendLinkConfig(url=backend.base_url, batch_size=100), clock)
        start = time.perf_counter()
        async with httpx.AsyncClient(base_url=backend.base_url, timeout=60) as client:
            delivered = await sender.deliver_due(client)
        elapsed = time.perf_counter() - start
        assert delivered == backlog, delivered
        print(f"uplink drain: {backlog} transactions in {elapsed:.2f} s = "
              f"{backlog / elapsed:,.0f} per second (batches of 100, backend on SQLite)")
        journal.close()
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=320)
    parser.add_argument("--backlog", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging(SystemClock(), "error")
    for terminals in (1, 32):
        with tempfile.TemporaryDirectory() as tmp:
            trio.run(latency_run, Path(tmp), terminals, args.payments)
    with tempfile.TemporaryDirectory() as tmp:
        trio.run(drain_run, Path(tmp), args.backlog)


if __name__ == "__main__":
    main()
