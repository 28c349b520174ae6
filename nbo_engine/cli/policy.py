"""``nbo policy``: check policy files (publishing comes with the store tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nbo_engine.cli._app import app, console, err, fail
from nbo_engine.errors import PolicyFileError
from nbo_engine.policy import load_policy

policy_app = typer.Typer(
    help="Validate, publish, activate and roll back offer policies (YAML).",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")


@policy_app.command("validate")
def policy_validate(
    file: Annotated[Path, typer.Argument(help="Policy YAML file.")],
) -> None:
    """Validate a policy file: print a summary, or every problem and exit 1."""
    try:
        spec = load_policy(file)
    except PolicyFileError as exc:
        for problem in exc.problems:
            err.print(problem, highlight=False, markup=False, soft_wrap=True)
        n = len(exc.problems)
        raise fail(f"{file.name}: {n} problem{'s' if n != 1 else ''}") from None
    params = ", ".join(f"{k}={v}" for k, v in spec.bandit.params.model_dump().items())
    console.print(
        f"OK {file}: policy {spec.name!r}, {len(spec.offers)} offers "
        f"({', '.join(spec.offer_ids)})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    console.print(
        f"channels: {', '.join(spec.channels)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    console.print(
        f"bandit: {spec.bandit.type} ({params}), reward {spec.bandit.reward}, "
        f"{len(spec.bandit.features)} features",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
