"""Shared kernel of MediPay Edge: clock, logging, configuration, and the `medipay` CLI.

The three deployables (`gateway`, `medipay_backend`, `firmware_sim`) may import
`medipay.clock`, `medipay.logs` and `medipay.config`; only `medipay.cli` and
`medipay.up` import the deployables, to compose them.
"""
