"""The only package that speaks SQL."""

from sqlalchemy import Connection, Engine

from nbo_engine.store.engine import dialect_of, make_engine, read, write

__all__ = ["Connection", "Engine", "dialect_of", "make_engine", "read", "write"]
