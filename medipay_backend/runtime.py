"""What the running service is wired to: timing rules, adapters and simulators.

`create_app` and the scheduler share one `Runtime`. `Runtime.simulated(clock)` needs no
configuration at all: SMS are recorded, not sent; cards go to the simulated acquirer, Vipps
to the simulated ePayment API, credit checks to the simulated bureau (the simulators' pages
are mounted under /sim/ in the backend). `base_url` is the public address used in SMS links;
the server sets it to the address it bound when the configuration leaves it empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from medipay.clock import Clock
from medipay_backend.adapters.acquirer import Acquirer
from medipay_backend.adapters.bureau import CreditBureau, SimulatedBureau
from medipay_backend.adapters.sim_acquirer import SimulatedAcquirer
from medipay_backend.adapters.sim_vipps import PREFIX as VIPPS_PREFIX
from medipay_backend.adapters.sim_vipps import SimulatedVipps
from medipay_backend.adapters.vipps import VippsClient, VippsCredentials
from medipay_backend.auth_cache import AuthCache
from medipay_backend.invoicing.settings import InvoicingSettings
from medipay_backend.mail import SmtpSettings
from medipay_backend.orders import OrderTiming
from medipay_backend.settlement.jobs import SettlementSettings
from medipay_backend.sms.sender import RecordingSender, SmsSender

DEFAULT_BASE_URL = "http://127.0.0.1:8400"


@dataclass
class Runtime:
    sms: SmsSender
    acquirer: Acquirer
    vipps: VippsClient
    bureau: CreditBureau
    timing: OrderTiming = field(default_factory=OrderTiming)
    base_url: str = DEFAULT_BASE_URL
    sim_acquirer: SimulatedAcquirer | None = None
    sim_vipps: SimulatedVipps | None = None
    auth_cache: AuthCache = field(default_factory=AuthCache)
    # From `[smtp]`; None: no e-mail (invoices on paper, reports only downloadable).
    smtp: SmtpSettings | None = None
    # From `[invoicing]`; None: the daily invoicing job delivers nothing (tests, `simulate`).
    invoicing: InvoicingSettings | None = None
    # From `[settlement]`; None: disabled, a pending day job settles nothing (tests, `simulate`).
    settlement: SettlementSettings | None = None

    @classmethod
    def simulated(
        cls,
        clock: Clock,
        *,
        timing: OrderTiming | None = None,
        sms: SmsSender | None = None,
        bureau: CreditBureau | None = None,
        base_url: str = DEFAULT_BASE_URL,
    ) -> Runtime:
        acquirer = SimulatedAcquirer()
        vipps = SimulatedVipps()
        # The Vipps client speaks HTTP to the simulator in-process; the patient's browser
        # reaches the same simulator through the backend's /sim/vipps mount.
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=vipps.app),
                                 base_url="http://vipps.sim")
        return cls(
            sms=sms or RecordingSender(clock), acquirer=acquirer,
            vipps=VippsClient(http, VippsCredentials()),
            bureau=bureau or SimulatedBureau(), timing=timing or OrderTiming(),
            base_url=base_url, sim_acquirer=acquirer, sim_vipps=vipps,
        )

    @property
    def vipps_mount(self) -> str:
        return VIPPS_PREFIX
