"""Logging without personal data.

Customer ids are logged only as :func:`pseudonym`: a truncated, domain-separated
SHA-256, so log lines about the same customer can be correlated without the id
itself appearing. Names, e-mails, addresses and free text are never logged; the
access line names the route *template* (``/v1/customers/{customer_id}``), never
the raw path, and error lines carry the exception's type and stack, never its
message (database errors embed bound parameters in theirs).
"""

from __future__ import annotations

import hashlib
import logging
import traceback

__all__ = ["access_log", "log", "log_exception", "pseudonym"]

log = logging.getLogger("nbo_engine.api")
access_log = logging.getLogger("nbo_engine.api.access")

_DOMAIN = b"nbo-engine/log-pseudonym/v1:"


def pseudonym(customer_id: str) -> str:
    """``cust:`` and 12 hex characters of SHA-256 over a fixed domain and the id.

    Not anonymisation: whoever holds the customer table can recompute it. It
    keeps raw ids (which are personal data under GDPR) out of log stores.

    Examples
    --------
    >>> pseudonym("C0000042") == pseudonym("C0000042")
    True
    >>> pseudonym("C0000042").startswith("cust:") and "C0000042" not in pseudonym("C0000042")
    True
    """
    digest = hashlib.sha256(_DOMAIN + customer_id.encode("utf-8")).hexdigest()
    return "cust:" + digest[:12]


def log_exception(exc: BaseException, *, route: str, request_id: str) -> None:
    """Log an unexpected error: type and stack, not the message."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "unhandled %s on %s (request %s)\n%s",
        type(exc).__name__,
        route,
        request_id,
        stack,
    )
