"""Routers of the offer API (one module per resource)."""
