"""The `zendesk-audit` command: parse, call the library, print. No logic lives here."""
from __future__ import annotations

import click

from zendesk_audit.sandbox.command import sandbox_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Load the Zendesk audit log into a warehouse and model it for audits."""


cli.add_command(sandbox_command)


def main() -> None:
    cli()
