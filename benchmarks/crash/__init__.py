"""The crash campaign's parts; `benchmarks/crash_campaign.py` is the entry point."""
