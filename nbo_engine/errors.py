"""Every exception nbo-engine raises on purpose lives here.

Messages say what was wrong, where, what was received and what was expected,
e.g. ``transactions.csv row 812 (transaction_id=T-77): column 'amount' is 'abc',
expected a number``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataValidationError",
    "FileFormatError",
    "NboError",
    "NotFittedError",
    "PolicySpecError",
    "StoreError",
]


class NboError(Exception):
    """Base class of every error nbo-engine raises deliberately."""


class ConfigError(NboError, ValueError):
    """A setting is missing, malformed or unsafe."""


class DataValidationError(NboError, ValueError):
    """Input data does not satisfy its contract."""


class FileFormatError(DataValidationError):
    """A whole input file is unusable: not readable, wrong columns, empty."""


class PolicySpecError(NboError, ValueError):
    """A policy specification is invalid."""


class NotFittedError(NboError, ValueError):
    """A model was used before it was fitted."""


class StoreError(NboError):
    """The database refused an operation or is not at the expected schema."""
