"""The README's main job: `medipay up` as a real process, used with the curl it prints."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_banner(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "/klinikk" in line:  # the banner's last line
            return "".join(lines)
    raise AssertionError("medipay up printed no banner:\n" + "".join(lines))


def test_medipay_up_takes_a_payment_and_stops_on_ctrl_c(tmp_path: Path):
    ports = [free_port() for _ in range(3)]
    process = subprocess.Popen(
        [sys.executable, "-m", "medipay", "up", "--data-dir", str(tmp_path),
         "--backend-port", str(ports[0]), "--gateway-port", str(ports[1]),
         "--terminal-port", str(ports[2])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        banner = read_banner(process, time.monotonic() + 60)
        assert f"http://127.0.0.1:{ports[0]}" in banner
        assert f"http://127.0.0.1:{ports[1]}" in banner
        token = re.search(r"EPJ token (\S+?)\)", banner).group(1)
        admin = re.search(r"admin token (\S+?)\)", banner).group(1)
        curl = next(line for line in banner.splitlines() if line.startswith("curl -sS -X POST"))
        assert token in curl and "Idempotency-Key" in curl

        payment = subprocess.run(["bash", "-c", curl], capture_output=True, text=True,
                                 timeout=60, check=True)
        assert '"status":"approved"' in payment.stdout, payment.stdout

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            listing = httpx.get(f"http://127.0.0.1:{ports[0]}/v1/pos-transactions",
                                headers={"Authorization": f"Bearer {admin}"})
            if listing.json()["items"]:
                break
            time.sleep(0.2)
        assert len(listing.json()["items"]) == 1

        order_curl = next(line for line in banner.splitlines() if "/v1/orders" in line)
        order = subprocess.run(["bash", "-c", order_curl], capture_output=True, text=True,
                               timeout=60, check=True)
        assert '"status":"accepted"' in order.stdout, order.stdout
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sms = httpx.get(f"http://127.0.0.1:{ports[0]}/v1/sms-outbox",
                            headers={"Authorization": f"Bearer {admin}"}).json()["items"]
            if sms:
                break
            time.sleep(0.2)
        assert len(sms) == 1 and f"http://127.0.0.1:{ports[0]}/c/" in sms[0]["text"]

        portal = re.search(r"(http://\S+/klinikk)\s+e-mail (\S+), one-time password (\S+)",
                           banner)
        assert portal, banner
        with httpx.Client() as browser:
            page = browser.get(portal.group(1) + "/logg-inn")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            login = browser.post(portal.group(1) + "/logg-inn", data={
                "email": portal.group(2), "password": portal.group(3), "csrf": csrf})
        assert login.status_code == 303 and login.headers["location"] == "/klinikk/nytt-passord"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped" in output
    assert "Traceback" not in output
