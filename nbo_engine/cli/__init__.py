"""``nbo``: the command line. Thin: parse, call one function, format the answer.

Each module registers its commands on the shared app from ``_app``.
"""

from nbo_engine.cli import (  # noqa: F401  (register commands)
    clv,
    data,
    db,
    decide,
    experiment,
    forecast,
    jobs,
    loop,
    monitor,
    policy,
    report,
    retune,
    scores,
    serve,
    uplift,
)
from nbo_engine.cli._app import app

__all__ = ["app"]
