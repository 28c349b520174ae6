"""The offer API (FastAPI): offers, events, customers, probes and metrics."""

from nbo_engine.api.app import create_app

__all__ = ["create_app"]
