"""``nbo experiment``: plan experiments (sample size)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from nbo_engine.cli._app import app, console, fail
from nbo_engine.errors import NboError

experiment_app = typer.Typer(
    help="Plan and analyse experiments (A/B/n tests, holdouts).", no_args_is_help=True
)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("plan")
def plan(
    baseline: Annotated[
        float,
        typer.Option(
            help="Control conversion rate (proportion) or mean (mean metric)."
        ),
    ],
    mde: Annotated[
        float, typer.Option(help="Minimum detectable effect, relative (0.1 = +10%).")
    ],
    power: Annotated[float, typer.Option(help="Target power.")] = 0.8,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    ratio: Annotated[
        float, typer.Option(help="Units per treatment arm per control unit.")
    ] = 1.0,
    metric: Annotated[str, typer.Option(help="proportion or mean.")] = "proportion",
    sd: Annotated[
        float | None, typer.Option(help="Standard deviation per unit (mean metric).")
    ] = None,
    arms: Annotated[
        int, typer.Option(help="Arms including the control (Bonferroni over them).")
    ] = 2,
    cuped_rho: Annotated[
        float,
        typer.Option(
            help="Correlation of the metric with its pre-period value (CUPED "
            "shrinks the variance by 1 - rho^2); 0 for none."
        ),
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Units needed per arm and in total for a two-sided test."""
    from nbo_engine.experiments.power import sample_size

    if metric not in ("proportion", "mean"):
        raise fail(f"--metric: expected proportion or mean, got {metric!r}", 2)
    if not 0.0 <= cuped_rho < 1.0:
        raise fail(
            f"--cuped-rho: expected a correlation in [0, 1), got {cuped_rho!r}", 2
        )
    try:
        result = sample_size(
            baseline,
            mde,
            metric="proportion" if metric == "proportion" else "mean",
            sd=sd,
            alpha=alpha,
            power=power,
            ratio=ratio,
            arms=arms,
            variance_reduction=1.0 - cuped_rho**2,
        )
    except NboError as exc:
        # core messages start with the parameter name: show it as the option
        name, _, rest = str(exc).partition(": ")
        raise fail(f"--{name.replace('_', '-')}: {rest}", 2) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    t = Table(title="Planned sample", show_header=True)
    t.add_column("arm")
    t.add_column("units", justify="right")
    t.add_row("control", f"{result.n_control:,}")
    for k in range(1, arms):
        label = "treatment" if arms == 2 else f"treatment {k}"
        t.add_row(label, f"{result.n_treatment:,}")
    t.add_row("[bold]total[/]", f"[bold]{result.n_total:,}[/]")
    console.print(t)
    what = "rate" if metric == "proportion" else "mean"
    console.print(
        f"{what} {baseline:g} -> {baseline * (1 + mde):g} (relative {mde:+.1%}, "
        f"absolute {result.effect:+.4g}); two-sided alpha {alpha:g}"
        + (f" ({result.alpha_per_comparison:.3g} per comparison)" if arms > 2 else "")
        + f", power {power:.0%}, ratio {ratio:g}"
        + (f", CUPED variance x {result.variance_reduction:.3f}" if cuped_rho else ""),
        highlight=False,
    )
