"""The `zendesk-audit` command: parsing and printing only; each command calls one library function.

`main` is the program's entry point (`zendesk_audit.cli:main`); the commands are in `commands.py`.
"""
from zendesk_audit.cli.commands import cli, main

__all__ = ["cli", "main"]
