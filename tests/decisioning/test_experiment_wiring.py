"""Experiments in decisioning, on SQLite and PostgreSQL with the scored bank:
the decider reads running experiments and the global holdout from the store,
assigns deterministically (across channels, deciders and processes), applies
audiences, serves a challenger's policy version, and follows stops on refresh.

Every experiment here gets a fresh name and salt and is stopped when its test
ends, so other tests on the shared bank see none running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import yaml

from nbo_engine.decisioning import Decider
from nbo_engine.experiments import (
    ExperimentSpec,
    GlobalHoldout,
    assign_one,
    in_global_holdout,
)
from nbo_engine.store import Engine, read
from nbo_engine.store import decisions as store
from nbo_engine.store import scores as score_store
from nbo_engine.store.decisions import save_bandit_state
from nbo_engine.store.experiments import (
    create_experiment,
    running_experiments,
    start_experiment,
    stop_experiment,
)
from nbo_engine.store.policies import load_version, publish_policy, read_slot
from tests.scored_bank import NOW_ISO, Customers, catalog_with

NOW = dt.datetime.fromisoformat(NOW_ISO)
ROOT = Path(__file__).resolve().parents[2]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def offer_experiment(name: str, **extra: object) -> str:
    """An offer experiment: a no-contact control and a cashback arm, 50/50."""
    spec: dict[str, object] = {
        "name": name,
        "kind": "offer",
        "start": "2026-01-01",
        "variants": [
            {"name": "control", "weight": 0.5, "control": True},
            {"name": "cashback", "weight": 0.5, "treatment": "cc_cashback"},
        ],
        "metrics": {"primary": "conversion", "guardrails": ["churn"]},
        **extra,
    }
    return yaml.safe_dump(spec, sort_keys=False)


@contextlib.contextmanager
def running(engine: Engine, text: str) -> Iterator[ExperimentSpec | GlobalHoldout]:
    """Create and start an experiment for the block; stop it after."""
    rec = create_experiment(engine, text, actor="test")
    start_experiment(engine, rec.name, actor="test")
    try:
        yield rec.spec
    finally:
        with contextlib.suppress(Exception):
            stop_experiment(engine, rec.name, reason="test over", actor="test")


def test_the_decider_reads_running_experiments_from_the_store(
    bank_engine: Engine,
) -> None:
    before = Decider.load(bank_engine)
    assert before.experiments == ()
    with running(bank_engine, offer_experiment(_name("wire"))) as spec:
        d = Decider.load(bank_engine)
        assert [e.name for e in d.experiments] == [spec.name]  # type: ignore[union-attr]
        assert d.experiment_problems == ()
        # an older decider learns of it at its next refresh
        assert before.refresh() is True
        assert [e.name for e in before.experiments] == [spec.name]  # type: ignore[union-attr]
        assert before.refresh() is False  # nothing changed since


def test_same_customer_same_variant_across_channels_deciders_and_processes(
    bank_engine: Engine, bank_url: str, customers: Customers
) -> None:
    ids = customers.take(24)
    with running(bank_engine, offer_experiment(_name("wire"))) as spec:
        assert isinstance(spec, ExperimentSpec)
        a, b = Decider.load(bank_engine), Decider.load(bank_engine)
        seen: dict[str, set[str | None]] = {c: set() for c in ids}
        for cid in ids:
            for decider, channel in ((a, "web"), (b, "mobile"), (a, "branch")):
                r = decider.decide(cid, channel, 2, now=NOW)
                assert r.experiment == spec.name
                seen[cid].add(r.variant)
                rec = store.decision_record(bank_engine, r.decision_id)
                assert rec is not None
                assert (rec["experiment"], rec["variant"]) == (r.experiment, r.variant)
                if r.variant == "control":  # no treatment: a campaign holdout
                    assert r.offers == ()
        # another process, same store: the same variants
        code = textwrap.dedent(
            f"""
            import datetime as dt, json
            from nbo_engine.decisioning import Decider
            from nbo_engine.store import make_engine
            d = Decider.load(make_engine({bank_url!r}))
            now = dt.datetime.fromisoformat({NOW_ISO!r})
            print(json.dumps({{c: d.decide(c, "call_centre", 1, now=now).variant
                              for c in {ids!r}}}))
            """
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            timeout=120,
        )
        other = json.loads(out.stdout.strip().splitlines()[-1])
    for cid in ids:
        want = assign_one(spec, cid)
        assert seen[cid] == {want}, cid
        assert other[cid] == want, cid
    assert {assign_one(spec, c) for c in ids} == {"control", "cashback"}


def test_global_holdout_customers_get_no_offers(
    bank_engine: Engine, customers: Customers
) -> None:
    ids = customers.take(60)
    salt = _name("gh")
    text = f"name: {salt}\nsalt: {salt}\nshare: 0.2\n"
    with running(bank_engine, text) as holdout:
        assert isinstance(holdout, GlobalHoldout)
        held = in_global_holdout(holdout, ids)
        assert 3 <= held.sum() <= 30  # Binomial(60, 0.2): 12 +- 3 sd
        decider = Decider.load(bank_engine)
        assert decider.global_holdout == holdout
        served = 0
        for cid, h in zip(ids, held, strict=True):
            r = decider.decide(cid, "web", 3, now=NOW)
            rec = store.decision_record(bank_engine, r.decision_id)
            assert rec is not None
            if h:
                assert r.offers == ()
                assert rec["offers"] == []
                assert rec["eligible"] == []
                assert (rec["experiment"], rec["variant"]) == (
                    "global_holdout",
                    "holdout",
                )
            else:
                assert rec["experiment"] is None
                served += bool(r.offers)
        assert served > 0  # the others are served as usual


def test_audience_segments_and_rule_decide_who_enters(
    bank_engine: Engine, customers: Customers
) -> None:
    ids = customers.take(30)
    snap = score_store.latest_snapshot(bank_engine)
    assert snap is not None
    stages = score_store.snapshot_scores(bank_engine, int(snap["id"]), ["life_stage"])
    life = {c: stages.loc[c, "life_stage"] for c in ids}
    stage = max(set(life.values()), key=list(life.values()).count)
    nobody = offer_experiment(_name("aud"), audience={"rule": "age < 0"})
    some = offer_experiment(_name("aud"), audience={"segments": [stage]})
    with running(bank_engine, nobody) as first, running(bank_engine, some) as second:
        decider = Decider.load(bank_engine)
        assert [e.name for e in decider.experiments] == [first.name, second.name]  # type: ignore[union-attr]
        for cid in ids:
            r = decider.decide(cid, "web", 1, now=NOW)
            if life[cid] == stage:
                assert r.experiment == second.name  # type: ignore[union-attr]
            else:
                assert r.experiment is None
            # the public assignment (for batch decisions) says the same
            with read(bank_engine) as conn:
                row = store.read_profile(
                    conn, int(snap["id"]), cid, NOW, decider.profile_fields
                )
            assert row is not None
            a = decider.assign(cid, NOW.date(), row)
            assert (a.experiment, a.variant) == (r.experiment, r.variant)
            assert a.policy is decider.live


def test_a_challenger_variant_is_served_by_its_version(
    bank_engine: Engine, customers: Customers
) -> None:
    live_id = read_slot(bank_engine, "live")
    assert live_id is not None
    live = load_version(bank_engine, live_id)
    name = f"challenger_{uuid.uuid4().hex[:8]}"
    data = yaml.safe_load(catalog_with(name=name))
    data["arbitration"]["max_offers"] = 1  # the challenger shows one offer only
    challenger_id = publish_policy(bank_engine, yaml.safe_dump(data), name)
    text = yaml.safe_dump(
        {
            "name": _name("cc"),
            "kind": "policy",
            "start": "2026-01-01",
            "variants": [
                {
                    "name": "champion",
                    "weight": 0.5,
                    "control": True,
                    "treatment": f"{live.name}@{live.version}",
                },
                {"name": "challenger", "weight": 0.5, "treatment": f"{name}@1"},
            ],
            "metrics": {"primary": "conversion"},
        }
    )
    ids = customers.take(30)
    with running(bank_engine, text) as spec:
        assert isinstance(spec, ExperimentSpec)
        decider = Decider.load(bank_engine)
        assert decider.experiment_problems == ()
        variants = set()
        for cid in ids:
            r = decider.decide(cid, "web", 3, now=NOW)
            rec = store.decision_record(bank_engine, r.decision_id)
            assert rec is not None
            assert r.variant == assign_one(spec, cid)
            variants.add(r.variant)
            if r.variant == "challenger":
                assert r.policy_version_id == challenger_id
                assert r.policy_name == name
                assert len(r.offers) <= 1
                newest = store.latest_bandit_state(bank_engine, challenger_id)
                assert newest is not None
                assert rec["bandit_state_id"] == newest.id
            else:
                assert r.policy_version_id == live_id
            assert rec["policy_version_id"] == r.policy_version_id
            assert rec["variant"] == r.variant
        assert variants == {"champion", "challenger"}
        # the challenger learns (a new bandit state): the next refresh serves it
        state = store.latest_bandit_state(bank_engine, challenger_id)
        assert state is not None
        new_id = save_bandit_state(
            bank_engine, challenger_id, state.algorithm, state.state, source="fold"
        )
        assert decider.refresh() is True
        cid = next(c for c in customers.take(40) if assign_one(spec, c) == "challenger")
        r = decider.decide(cid, "web", 1, now=NOW)
        rec = store.decision_record(bank_engine, r.decision_id)
        assert rec is not None
        assert rec["bandit_state_id"] == new_id


def test_a_challenger_naming_no_published_version_is_refused(
    bank_engine: Engine,
) -> None:
    import pytest

    from nbo_engine.errors import ExperimentSpecError

    text = yaml.safe_dump(
        {
            "name": _name("cc"),
            "kind": "policy",
            "start": "2026-01-01",
            "variants": [
                {"name": "a", "weight": 0.5, "control": True, "treatment": "nope@1"},
                {"name": "b", "weight": 0.5, "treatment": "policy-v13"},
            ],
            "metrics": {"primary": "conversion"},
        },
        sort_keys=False,
    )
    with pytest.raises(ExperimentSpecError) as info:
        create_experiment(bank_engine, text, source="cc.yaml")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("cc.yaml:")
    assert lines[0].endswith(
        "variants.0.treatment: no published policy version 'nope@1'; see "
        "`nbo policy list`"
    )
    assert lines[1].endswith(
        "variants.1.treatment: expected a published policy version as "
        "NAME@VERSION (e.g. retail_default@3), got 'policy-v13'"
    )


def test_stopping_an_experiment_takes_effect_on_refresh(
    bank_engine: Engine, customers: Customers
) -> None:
    ids = customers.take(4)
    text = offer_experiment(_name("stop"))
    rec = create_experiment(bank_engine, text)
    start_experiment(bank_engine, rec.name)
    try:
        decider = Decider.load(bank_engine)
        assert decider.decide(ids[0], "web", 1, now=NOW).experiment == rec.name
    finally:
        stop_experiment(bank_engine, rec.name, reason="enough", actor="test")
    assert rec.name not in [
        e.name for e in running_experiments(bank_engine).experiments
    ]
    # until it refreshes, a decider keeps what it loaded
    assert decider.decide(ids[1], "web", 1, now=NOW).experiment == rec.name
    assert decider.refresh() is True
    r = decider.decide(ids[2], "web", 1, now=NOW)
    assert (r.experiment, r.variant) == (None, None)
    logged = store.decision_record(bank_engine, r.decision_id)
    assert logged is not None
    assert (logged["experiment"], logged["variant"]) == (None, None)
    assert decider.refresh() is False


def test_a_running_experiment_that_no_longer_validates_is_left_out(
    bank_engine: Engine, customers: Customers
) -> None:
    from sqlalchemy import update

    from nbo_engine.store import write
    from nbo_engine.store.tables import metadata

    table = metadata.tables["experiments"]
    name = _name("stale")
    text = offer_experiment(name)
    with running(bank_engine, text):
        with write(bank_engine) as conn:  # as if a new release refused it
            conn.execute(
                update(table).where(table.c.name == name).values(spec="kind: x\n")
            )
        try:
            decider = Decider.load(bank_engine)
            assert decider.experiments == ()
            (problem,) = decider.experiment_problems
            assert problem.startswith(
                f"experiment {name!r} left out: experiment {name} name: required "
                "field is missing"
            )
            (cid,) = customers.take()
            assert decider.decide(cid, "web", 1, now=NOW).experiment is None
        finally:
            with write(bank_engine) as conn:
                conn.execute(
                    update(table).where(table.c.name == name).values(spec=text)
                )


def test_offer_and_message_treatments_are_served_alone_with_propensity_one(
    bank_engine: Engine, customers: Customers
) -> None:
    """An offer experiment serves its variant's offer (the control arm gets
    nothing); a message experiment serves the offer of its message id with
    that message. Each served treatment has propensity 1 and replays."""
    from nbo_engine.decisioning import replay_decision
    from nbo_engine.policy import parse_policy, render_message

    ids = customers.take(16)
    catalog = parse_policy(
        (ROOT / "policies" / "catalog.yaml").read_text(), filename="catalog.yaml"
    )
    savings = next(o for o in catalog.offers if o.id == "savings_boost")
    message = yaml.safe_dump(
        {
            "name": _name("msg"),
            "kind": "message",
            "start": "2026-01-01",
            "layer": {"name": "email", "start": 0, "end": 10000},
            "variants": [
                {
                    "name": "rate",
                    "weight": 0.5,
                    "control": True,
                    "treatment": "msg-savings-rate",
                },
                {"name": "goal", "weight": 0.5, "treatment": "msg-savings-goal"},
            ],
            "metrics": {"primary": "conversion"},
        },
        sort_keys=False,
    )
    served = blocked = 0
    with running(bank_engine, message):
        d = Decider.load(bank_engine)
        for cid in ids:
            r = d.decide(cid, "web", 3, now=NOW)
            assert r.variant in ("rate", "goal")
            if r.offers:
                served += 1
                (o,) = r.offers  # alone, whatever n asked for
                assert (o.offer_id, o.propensity) == ("savings_boost", 1.0)
                template = savings.messages[f"msg-savings-{r.variant}"]
                with read(bank_engine) as conn:
                    row = store.read_profile(
                        conn, int(d.snapshot_id or 0), cid, NOW, ()
                    )
                assert row is not None
                assert o.message == render_message(template, row)
            else:
                blocked += 1
                rec = store.decision_record(bank_engine, r.decision_id)
                assert rec is not None
                assert rec["eligible"] == []
            assert replay_decision(bank_engine, r.decision_id).matches
    assert served >= 2  # savings holders are not eligible; most others are
    with running(bank_engine, offer_experiment(_name("offer"))):
        d = Decider.load(bank_engine)
        variants = set()
        for cid in customers.take(12):
            r = d.decide(cid, "web", 2, now=NOW)
            variants.add(r.variant)
            if r.variant == "control":
                assert r.offers == ()
            elif r.offers:
                assert [(o.offer_id, o.propensity) for o in r.offers] == [
                    ("cc_cashback", 1.0)
                ]
            assert replay_decision(bank_engine, r.decision_id).matches
        assert variants == {"control", "cashback"}
