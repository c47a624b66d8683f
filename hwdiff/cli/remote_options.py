"""The options every command that runs on a board over SSH (``--remote``) shares."""

from __future__ import annotations

import typer

IDENTITY = typer.Option(None, "--identity", help="Private key for --remote (ssh -i).")
REMOTE_PYTHON = typer.Option(None, "--remote-python", help="The Python on the remote machine that has hwdiff "
                                                           "(default: python3).")
