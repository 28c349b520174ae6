"""``nbo experiment``: plan, create, list, start, ramp, stop and read out
experiments (A/B/n tests, champion/challenger, the global holdout)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from nbo_engine.cli._app import app, console, engine, err, fail
from nbo_engine.errors import (
    DataValidationError,
    ExperimentSpecError,
    ExperimentStateError,
    NboError,
    UnknownExperimentError,
)

if TYPE_CHECKING:
    from nbo_engine.experiments import MetricReadout
    from nbo_engine.jobs.experiments import Results
    from nbo_engine.store.experiments import ExperimentRecord

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


# ------------------------------------------------------------------ lifecycle

_REFUSED = (
    ExperimentStateError,
    UnknownExperimentError,
    DataValidationError,
)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _line(rec: ExperimentRecord) -> str:
    return f"experiment {rec.name!r} ({rec.kind}): {rec.status}"


@experiment_app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="Experiment YAML (or .json) file.")],
) -> None:
    """Validate FILE and store it as a draft experiment (or global holdout)."""
    from nbo_engine.store.experiments import create_experiment

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{file}: cannot read ({exc.strerror})", 2) from None
    try:
        rec = create_experiment(
            engine(),
            text,
            source=str(file),
            json_body=file.suffix.lower() == ".json",
            actor=_actor(),
        )
    except ExperimentSpecError as exc:
        problems = str(exc).splitlines()
        for problem in problems:
            err.print(problem, highlight=False, markup=False, soft_wrap=True)
        n = len(problems)
        raise fail(
            f"{file.name}: {n} problem{'s' if n != 1 else ''}; not created"
        ) from None
    except _REFUSED as exc:
        raise fail(str(exc)) from None
    _say(f"created {_line(rec)}; start it with `nbo experiment start {rec.name}`")


@experiment_app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option(help="Only draft, running or stopped ones.")
    ] = None,
) -> None:
    """Stored experiments in creation order."""
    from nbo_engine.experiments import ExperimentSpec
    from nbo_engine.store.experiments import list_experiments

    try:
        records = list_experiments(engine(), status=status)
    except DataValidationError as exc:
        raise fail(f"--{exc}", 2) from None
    if not records:
        _say("no experiments" + (f" {status}" if status else ""))
        return
    t = Table("name", "kind", "status", "layer", "dates", "traffic", "variants")
    for r in records:
        s = r.spec
        if isinstance(s, ExperimentSpec):
            dates = f"{s.start} to {s.end or 'open'}"
            traffic = f"{s.traffic:g}"
            variants = ", ".join(
                f"{v.name}{' (control)' if v.control else ''} {v.weight:g}"
                for v in s.variants
            )
        else:
            dates, traffic, variants = "", "", f"share {s.share:g}, salt {s.salt}"
        t.add_row(r.name, r.kind, r.status, r.layer or "", dates, traffic, variants)
    console.print(t)


@experiment_app.command("start")
def start(name: Annotated[str, typer.Argument(help="Experiment name.")]) -> None:
    """Start a draft; deciders pick it up at their next refresh."""
    from nbo_engine.store.experiments import start_experiment

    try:
        rec = start_experiment(engine(), name, actor=_actor())
    except _REFUSED as exc:
        raise fail(str(exc)) from None
    _say(f"started {_line(rec)}")


@experiment_app.command("stop")
def stop(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit).")],
) -> None:
    """Stop an experiment (final); its customers return to the default policy."""
    from nbo_engine.store.experiments import stop_experiment

    try:
        rec = stop_experiment(engine(), name, reason=reason, actor=_actor())
    except DataValidationError as exc:
        raise fail(f"--{exc}", 2) from None
    except _REFUSED as exc:
        raise fail(str(exc)) from None
    _say(f"stopped {_line(rec)}: {rec.stop_reason}")


@experiment_app.command("ramp")
def ramp(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    traffic: Annotated[
        float,
        typer.Option(help="New share of each variant's buckets exposed, up to 1."),
    ],
) -> None:
    """Raise an experiment's traffic without moving anyone between variants."""
    from nbo_engine.store.experiments import ramp_experiment

    try:
        rec = ramp_experiment(engine(), name, traffic, actor=_actor())
    except DataValidationError as exc:
        raise fail(f"--{exc}", 2) from None
    except _REFUSED as exc:
        raise fail(str(exc)) from None
    spec = rec.spec
    _say(f"ramped {_line(rec)} to traffic {getattr(spec, 'traffic', traffic):g}")


# ------------------------------------------------------------------ results


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def _pct(x: float) -> str:
    return f"{x:+.2%}" if math.isfinite(x) else "n/a"


def _num(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else "n/a"


def _ci(lo: float, hi: float, fmt: Any) -> str:
    return f"[{fmt(lo)}, {fmt(hi)}]"


def _metric_table(metric: str, cells: list[MetricReadout]) -> Table:
    c0 = cells[0]
    cuped = (
        f", CUPED variance x {c0.variance_reduction:.3f}"
        if c0.variance_reduction is not None
        else ""
    )
    t = Table(
        "variant",
        "n\nctrl / var",
        "mean\nctrl -> var",
        "difference\n[CI]",
        f"lift [CI]\n[{c0.adjustment} adj.]",
        "p\np adj.",
        "sequential\np adj., lift",
        "P(beat\nctrl)",
        "result",
        title=f"{metric} ({c0.role}, {c0.method}{cuped})",
        title_justify="left",
    )
    for c in cells:
        a, r, q = c.absolute, c.relative, c.sequential
        note = c.direction if a.reason == "ok" else a.reason
        colour = {"better": "green", "worse": "red"}.get(c.direction, "")
        t.add_row(
            c.variant,
            f"{c.n_control:,}\n{c.n_variant:,}",
            f"{_num(c.mean_control)}\n{_num(c.mean_variant)}",
            f"{_num(a.estimate)}\n{_ci(a.ci_low, a.ci_high, _num)}",
            f"{_pct(r.estimate)} {_ci(r.ci_low, r.ci_high, _pct)}\n"
            f"{_ci(*c.relative_ci_adjusted, _pct)}",
            f"{a.p_value:.3g}\n{c.p_value_adjusted:.3g}",
            f"{q.p_value_adjusted:.3g}\n{_ci(q.relative_ci_low, q.relative_ci_high, _pct)}",
            f"{c.bayes.get('prob_beat_control', float('nan')):.3f}",
            f"[{colour}]{note}[/]" if colour else note,
        )
    return t


def _print_results(res: Results) -> None:
    r, s = res.readout, res.stats
    units = ", ".join(f"{v} {n:,}" for v, n in zip(r.variants, r.units, strict=True))
    progress = f", {r.progress:.0%} of the planned sample" if r.progress else ""
    _say(
        f"experiment {r.experiment} ({s.status}, {r.analysis} analysis, alpha "
        f"{r.alpha:g}) as of {s.as_of:%Y-%m-%d %H:%M} UTC"
    )
    _say(f"units: {units} (control: {r.control}){progress}")
    srm = r.srm
    shares = ", ".join(
        f"{o:.3f} vs {e:.3f}"
        for o, e in zip(srm.observed_share, srm.expected_share, strict=True)
    )
    _say(
        f"sample ratio: {'MISMATCH' if srm.mismatch else 'ok'} (p={srm.p_value:.3g}; "
        f"observed vs planned share {shares})"
    )
    if s.mixed_units or s.other_variants:
        err.print(
            f"warning: {s.mixed_units} customer(s) logged under two variants and "
            f"{sum(s.other_variants.values())} under unknown variant names "
            f"{sorted(s.other_variants)} were left out",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    colour = {"ship": "green", "stop_harm": "red", "investigate_srm": "red"}.get(
        r.decision, "yellow"
    )
    from rich.markup import escape

    console.print(
        f"decision: [bold {colour}]{r.decision}[/]: {escape(r.reason)}",
        highlight=False,
        soft_wrap=True,
    )
    for d in r.decisions:
        _say(f"  {d.variant}: {d.decision}: {d.reason}")
    metrics: dict[str, list[MetricReadout]] = {}
    for c in r.metrics:
        metrics.setdefault(c.metric, []).append(c)
    for metric, cells in metrics.items():
        console.print(_metric_table(metric, cells))


@experiment_app.command("results")
def results(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    as_of: Annotated[
        str | None,
        typer.Option(help="Count data before this time, ISO 8601 (default: now)."),
    ] = None,
    pre_days: Annotated[
        int, typer.Option(help="CUPED pre-period, days before the start date.")
    ] = 90,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The full readout: per metric and variant, estimates, CIs, lift,
    fixed-horizon and sequential p-values, sample-ratio check and decision."""
    from nbo_engine.jobs.experiments import experiment_results_detail

    when = None
    if as_of is not None:
        try:
            when = dt.datetime.fromisoformat(as_of)
        except ValueError:
            raise fail(
                f"--as-of: expected a date or time (ISO 8601), got {as_of!r}", 2
            ) from None
    if pre_days < 1:
        raise fail(
            f"--pre-days: expected a whole number of days >= 1, got {pre_days}", 2
        )
    try:
        res = experiment_results_detail(engine(), name, as_of=when, pre_days=pre_days)
    except (*_REFUSED, NboError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_finite(res.to_dict()), indent=2))
        return
    _print_results(res)
