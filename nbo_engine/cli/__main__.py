"""``python -m nbo_engine.cli``."""

from nbo_engine.cli import app

app()
