"""`python -m medipay` is the same as the `medipay` command."""

from medipay.cli import app

app(prog_name="medipay")
