"""`python -m handoff`: run the hub, manage agents."""

from handoff.cli import app

app()
