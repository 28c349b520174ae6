"""SQLModel tables: one per input entity, plus ingest bookkeeping.

Input tables mirror the data contract (``nbo_engine/ingest/schemas.py``); a test
checks every contract column has a column here of a compatible type. Money is a
double rounded to cents: this store feeds analytics, it is not a ledger.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "Account",
    "ApiKey",
    "Balance",
    "BanditState",
    "Bureau",
    "CampaignHistory",
    "Customer",
    "CustomerAlias",
    "CustomerRelationship",
    "CustomerScore",
    "Decision",
    "DecisionOffer",
    "DigitalEvent",
    "Experiment",
    "ExperimentChange",
    "IngestRepair",
    "IngestRun",
    "Interaction",
    "InteractionSentiment",
    "JobRun",
    "Market",
    "ModelVersion",
    "MonitorReport",
    "OfferEvent",
    "PolicyActivation",
    "PolicyProposal",
    "PolicySlot",
    "PolicyVersion",
    "Quarantine",
    "ScoreSnapshot",
    "SegmentProfile",
    "Transaction",
    "WeeklyReport",
    "metadata",
]

metadata = SQLModel.metadata


class Market(SQLModel, table=True):
    __tablename__ = "market"
    week_start: dt.date = Field(primary_key=True)
    policy_rate: float
    unemployment_rate: float
    house_price_index: float


class CustomerBase(SQLModel):
    first_name: str
    last_name: str
    birth_date: dt.date
    address: str
    city: str | None = None
    postcode: str = Field(index=True)
    email: str | None = None
    phone: str | None = None
    income_band: str | None = None
    occupation: str | None = None
    marital_status: str | None = None
    dependants: int | None = None
    join_date: dt.date
    marketing_consent: bool
    do_not_contact: bool | None = None


class Customer(CustomerBase, table=True):
    __tablename__ = "customers"
    customer_id: str = Field(primary_key=True)
    #: Connected component of shared-address and joint-account links.
    household_id: str | None = Field(default=None, index=True)


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    account_id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customers.customer_id", index=True)
    joint_customer_id: str | None = Field(
        default=None, foreign_key="customers.customer_id"
    )
    product: str
    open_date: dt.date
    close_date: dt.date | None = None
    balance: float
    credit_limit: float | None = None
    interest_rate: float | None = None
    currency: str


class Balance(SQLModel, table=True):
    __tablename__ = "balances"
    account_id: str = Field(foreign_key="accounts.account_id", primary_key=True)
    month_end: dt.date = Field(primary_key=True)
    balance: float


class Transaction(SQLModel, table=True):
    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_customer_ts", "customer_id", "timestamp"),)
    transaction_id: str = Field(primary_key=True)
    account_id: str = Field(foreign_key="accounts.account_id")
    customer_id: str = Field(foreign_key="customers.customer_id")
    #: Bank local time, stored without a zone.
    timestamp: dt.datetime = Field(sa_column=Column(DateTime(), nullable=False))
    amount: float
    currency: str
    category: str
    channel: str
    #: Flagged by the robust z-score of log amount within its category; kept.
    is_anomalous: bool = False


class DigitalEvent(SQLModel, table=True):
    __tablename__ = "digital_events"
    __table_args__ = (
        Index("ix_digital_events_customer_ts", "customer_id", "timestamp"),
    )
    event_id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customers.customer_id")
    #: Bank local time, stored without a zone.
    timestamp: dt.datetime = Field(sa_column=Column(DateTime(), nullable=False))
    channel: str
    event_type: str
    product: str | None = None


class Interaction(SQLModel, table=True):
    __tablename__ = "interactions"
    interaction_id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customers.customer_id", index=True)
    #: Bank local time, stored without a zone.
    timestamp: dt.datetime = Field(sa_column=Column(DateTime(), nullable=False))
    channel: str
    reason: str
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    complaint: bool


class Bureau(SQLModel, table=True):
    __tablename__ = "bureau"
    customer_id: str = Field(foreign_key="customers.customer_id", primary_key=True)
    as_of: dt.date = Field(primary_key=True)
    credit_score: int
    total_debt: float
    open_trades: int
    delinquencies_12m: int
    utilisation: float


class CampaignHistory(SQLModel, table=True):
    __tablename__ = "campaign_history"
    contact_id: str = Field(primary_key=True)
    campaign_id: str = Field(index=True)
    customer_id: str = Field(foreign_key="customers.customer_id", index=True)
    offer_id: str
    channel: str
    contact_date: dt.date
    treated: bool
    treatment_probability: float
    responded: bool
    converted: bool
    conversion_date: dt.date | None = None


# ------------------------------------------------------------------ ingest books


class IngestRun(SQLModel, table=True):
    """One file load. A run left ``running`` by a killed process is marked
    ``abandoned`` by the next load of the same entity."""

    __tablename__ = "ingest_runs"
    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(index=True)
    entity: str
    file: str
    file_sha256: str | None = None
    status: str = Field(index=True)
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_fixed: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    customers_merged: int = 0
    anomalies_flagged: int = 0
    #: JSON object {reason: count} of quarantined rows, and of repairs.
    quarantine_reasons: str = Field(default="{}", sa_column=Column(Text))
    repair_reasons: str = Field(default="{}", sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Quarantine(SQLModel, table=True):
    """A row that could not be loaded, kept whole with why."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_entity_reason", "entity", "reason"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="ingest_runs.id", index=True)
    entity: str
    file: str
    row_number: int
    record_key: str | None = None
    column: str | None = None
    reason: str
    message: str = Field(sa_column=Column(Text, nullable=False))
    #: The row as read, every field a string, JSON encoded.
    raw: str = Field(sa_column=Column(Text, nullable=False))


class IngestRepair(SQLModel, table=True):
    """A value changed (or a row dropped as an exact duplicate) on the way in."""

    __tablename__ = "ingest_repairs"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="ingest_runs.id", index=True)
    entity: str
    row_number: int
    record_key: str | None = None
    column: str | None = None
    reason: str
    original: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class CustomerAlias(SQLModel, table=True):
    """A second record of a customer, resolved to ``customer_id``."""

    __tablename__ = "customer_aliases"
    alias_id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customers.customer_id", index=True)
    score: float
    run_id: int | None = Field(default=None, foreign_key="ingest_runs.id")
    #: The alias record as it arrived, JSON encoded (nothing is lost).
    raw: str = Field(sa_column=Column(Text, nullable=False))


class CustomerRelationship(SQLModel, table=True):
    """An undirected link (stored with customer_id < related_customer_id)."""

    __tablename__ = "customer_relationships"
    __table_args__ = (
        UniqueConstraint("customer_id", "related_customer_id", "relation"),
    )
    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.customer_id", index=True)
    related_customer_id: str = Field(foreign_key="customers.customer_id", index=True)
    relation: str  # shared_address | joint_account


# ------------------------------------------------------------------ scores


class ModelVersion(SQLModel, table=True):
    """A trained model: immutable once written. Artefacts are JSON (LightGBM
    models as their own text format inside), never pickles."""

    __tablename__ = "model_versions"
    id: int | None = Field(default=None, primary_key=True)
    task: str = Field(index=True)  # churn_90d, propensity, clv, segments
    family: str
    created_at: dt.datetime
    as_of: dt.date
    training: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    features: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    metrics: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    libraries: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    artefact: str = Field(sa_column=Column(Text, nullable=False))
    artefact_sha256: str


class ScoreSnapshot(SQLModel, table=True):
    """One scoring run as of a date. The newest succeeded snapshot is active;
    a run becomes visible only when its status flips to succeeded."""

    __tablename__ = "score_snapshots"
    id: int | None = Field(default=None, primary_key=True)
    as_of: dt.date = Field(index=True)
    created_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = Field(index=True)
    models: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    n_customers: int = 0
    seconds: float = 0.0
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class CustomerScore(SQLModel, table=True):
    """Scores, segments and the context features of one customer in a snapshot."""

    __tablename__ = "customer_scores"
    snapshot_id: int = Field(foreign_key="score_snapshots.id", primary_key=True)
    customer_id: str = Field(primary_key=True, index=True)
    clv_12m: float | None = None
    expected_purchases_12m: float | None = None
    p_alive: float | None = None
    churn_90d: float | None = None
    propensity_savings: float | None = None
    propensity_credit_card: float | None = None
    propensity_personal_loan: float | None = None
    propensity_mortgage: float | None = None
    propensity_investment: float | None = None
    propensity_insurance: float | None = None
    next_best_product: str | None = None
    value_tier: str | None = None
    cluster: str | None = None
    life_stage: str | None = None
    product_affinity: str | None = None
    micro_segment: str | None = None
    age: float | None = None
    tenure_days: float | None = None
    income_level: float | None = None
    n_products: float | None = None
    rfm_recency_days: float | None = None
    rfm_count_90: float | None = None
    rfm_sum_365: float | None = None
    dig_logins_30: float | None = None
    svc_complaints_365: float | None = None
    svc_sentiment_365: float | None = None
    bal_deposits: float | None = None
    bal_debt: float | None = None
    chan_digital_share: float | None = None
    marketing_consent: bool | None = None
    do_not_contact: bool | None = None


class SegmentProfile(SQLModel, table=True):
    """A segment of a snapshot, described for campaign managers."""

    __tablename__ = "segment_profiles"
    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="score_snapshots.id", index=True)
    kind: str  # value_tier, cluster, life_stage, product_affinity, micro_segment
    segment: str
    name: str
    size: int
    share: float
    description: str = Field(sa_column=Column(Text, nullable=False))
    stats: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class InteractionSentiment(SQLModel, table=True):
    """Each service note's sentiment, scored once."""

    __tablename__ = "interaction_sentiment"
    interaction_id: str = Field(
        foreign_key="interactions.interaction_id", primary_key=True
    )
    compound: float
    model: str


# ------------------------------------------------------------------ decisions
# Policy versions, bandit state, the decision log, outcome events and API keys.
# Versioned, never overwritten: a policy or bandit state is a new row; which
# policy serves is one row per slot, switched in one UPDATE (see store/policies).


class PolicyVersion(SQLModel, table=True):
    """A published policy spec (YAML as written), immutable once stored."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    version: int  # 1, 2, ... per name
    created_at: dt.datetime
    created_by: str | None = None
    spec: str = Field(sa_column=Column(Text, nullable=False))
    spec_sha256: str
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class PolicySlot(SQLModel, table=True):
    """Which version serves (``live``) and which runs beside it (``shadow``).

    Activation and rollback are one UPDATE of this row; the history of switches
    is in ``policy_activations``."""

    __tablename__ = "policy_slots"
    slot: str = Field(primary_key=True)  # live, shadow
    version_id: int | None = Field(default=None, foreign_key="policy_versions.id")
    updated_at: dt.datetime


class PolicyActivation(SQLModel, table=True):
    """Audit of every slot switch: who, when, from which version to which."""

    __tablename__ = "policy_activations"
    id: int | None = Field(default=None, primary_key=True)
    slot: str
    version_id: int | None = Field(default=None, foreign_key="policy_versions.id")
    previous_version_id: int | None = Field(
        default=None, foreign_key="policy_versions.id"
    )
    at: dt.datetime
    actor: str | None = None
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class BanditState(SQLModel, table=True):
    """A bandit's learned state for one policy version; the newest row is
    current. ``state`` is the bandit's own documented byte format
    (``nbo_engine.bandit``'s ``to_bytes``), never a pickle."""

    __tablename__ = "bandit_states"
    id: int | None = Field(default=None, primary_key=True)
    policy_version_id: int = Field(foreign_key="policy_versions.id", index=True)
    created_at: dt.datetime
    algorithm: str
    state: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    n_rewards: int = 0  # rewards folded in so far (cumulative)
    source: str  # init, warm_start, fold
    #: Live decisions made before this time (naive UTC) are folded into this
    #: state; the next fold starts here, so no decision is counted twice.
    folded_until: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: The state a retune carried this version's bandit over from (another
    #: version's): the versions so linked share one line of learning, and the
    #: fold puts their decisions into the newest version's state.
    carried_from_state_id: int | None = Field(
        default=None, foreign_key="bandit_states.id"
    )


class Decision(SQLModel, table=True):
    """One answer to a channel (or what a shadow policy would have answered).

    Replayable: customer, channel, time, policy version and bandit state,
    experiment and variant, the eligible offers, the context vector, and (in
    ``decision_offers``) the chosen offers with their propensities."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_customer_ts", "customer_id", "ts"),)
    decision_id: str = Field(primary_key=True)
    request_id: str | None = Field(default=None, index=True)
    customer_id: str
    channel: str
    ts: dt.datetime = Field(sa_column=Column(DateTime(), nullable=False, index=True))
    mode: str  # live, shadow
    shadow_of: str | None = None  # the live decision a shadow one accompanied
    policy_version_id: int = Field(foreign_key="policy_versions.id", index=True)
    bandit_state_id: int | None = Field(default=None, foreign_key="bandit_states.id")
    snapshot_id: int | None = None
    experiment: str | None = None
    variant: str | None = None
    eligible: str = Field(sa_column=Column(Text, nullable=False))  # JSON offer ids
    context: str = Field(sa_column=Column(Text, nullable=False))  # JSON floats
    n_requested: int
    latency_ms: float | None = None


class DecisionOffer(SQLModel, table=True):
    """An offer chosen in a decision, at its rank, with its propensity."""

    __tablename__ = "decision_offers"
    decision_id: str = Field(foreign_key="decisions.decision_id", primary_key=True)
    rank: int = Field(primary_key=True)  # 1 = first shown
    offer_id: str = Field(index=True)
    propensity: float  # probability the policy chose this offer at this rank
    p_accept: float | None = None
    value: float | None = None
    priority: float | None = None
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class OfferEvent(SQLModel, table=True):
    """What a customer did with an offer. ``event_id`` is the client's, so a
    resent event is stored once; ``folded_state_id`` is the bandit state that
    first counted it, so no reward is counted twice."""

    __tablename__ = "offer_events"
    __table_args__ = (Index("ix_offer_events_customer_ts", "customer_id", "ts"),)
    event_id: str = Field(primary_key=True)
    decision_id: str = Field(foreign_key="decisions.decision_id", index=True)
    customer_id: str
    offer_id: str
    type: str  # impression, click, accept, decline, conversion
    ts: dt.datetime = Field(sa_column=Column(DateTime(), nullable=False))
    value: float | None = None
    received_at: dt.datetime
    folded_state_id: int | None = Field(
        default=None, foreign_key="bandit_states.id", index=True
    )


class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 is stored (keys are 256-bit random, so a
    fast hash is safe); ``prefix`` finds the row without scanning."""

    __tablename__ = "api_keys"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(unique=True, index=True)
    key_sha256: str
    role: str  # channel, analyst, campaign_manager, admin
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
    rate_per_minute: int = 6000


# ------------------------------------------------------------ experiments
# Experiments defined through the API or the CLI: the spec as submitted
# (YAML/JSON text, validated by ``nbo_engine.experiments.spec``), its status and
# every change to it. The global holdout is an experiment of kind ``holdout``.


class Experiment(SQLModel, table=True):
    """An experiment definition and its lifecycle (draft -> running -> stopped)."""

    __tablename__ = "experiments"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    kind: str  # offer, message, policy, holdout
    layer: str | None = None
    spec: str = Field(sa_column=Column(Text, nullable=False))
    spec_sha256: str
    status: str = Field(index=True)  # draft, running, stopped
    created_at: dt.datetime
    created_by: str | None = None
    started_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    stopped_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    stop_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ExperimentChange(SQLModel, table=True):
    """Audit of every experiment change: create, start, ramp, stop."""

    __tablename__ = "experiment_changes"
    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiments.id", index=True)
    at: dt.datetime
    actor: str | None = None
    action: str
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


# ------------------------------------------------------------------- the loop
# Scheduled jobs claim a (job, period) slot before they run, so each period
# runs once however many schedulers are started; retune proposals, monitoring
# results and weekly reports are kept with the run that made them.


class JobRun(SQLModel, table=True):
    """One run of a job for one period (``period`` is the job's own key, e.g.
    ``2026-11-25T07`` hourly, ``2026-11-25`` daily, ``2026-W48`` weekly)."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(index=True)
    period: str
    status: str  # running, succeeded, failed, abandoned
    trigger: str  # schedule, catch_up, manual
    attempt: int = 1
    claimed_by: str | None = None  # host:pid of the runner
    started_at: dt.datetime = Field(sa_column=Column(DateTime(), nullable=False))
    finished_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    heartbeat_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    counts: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class PolicyProposal(SQLModel, table=True):
    """A retune's proposal: the new policy version it published (not yet
    serving unless applied), each change with its reason and evidence, the
    guardrail checks, and who decided."""

    __tablename__ = "policy_proposals"
    id: int | None = Field(default=None, primary_key=True)
    created_at: dt.datetime
    base_version_id: int = Field(foreign_key="policy_versions.id", index=True)
    proposed_version_id: int | None = Field(
        default=None, foreign_key="policy_versions.id", index=True
    )
    mode: str  # propose, auto
    status: str = Field(
        index=True
    )  # proposed, applied, refused, rolled_back, superseded
    changes: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    guardrails: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    decided_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    decided_by: str | None = None
    job_run_id: int | None = Field(default=None, foreign_key="job_runs.id")
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class MonitorReport(SQLModel, table=True):
    """Drift, model health and acceptance rates between two snapshots, with the
    alerts raised and whether retraining was requested."""

    __tablename__ = "monitor_reports"
    id: int | None = Field(default=None, primary_key=True)
    created_at: dt.datetime
    as_of: dt.date
    snapshot_id: int | None = Field(default=None, foreign_key="score_snapshots.id")
    reference_snapshot_id: int | None = Field(
        default=None, foreign_key="score_snapshots.id"
    )
    report: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    n_alerts: int = 0
    retrain_requested: bool = False
    job_run_id: int | None = Field(default=None, foreign_key="job_runs.id")


class WeeklyReport(SQLModel, table=True):
    """The weekly uplift report: self-contained HTML plus every figure as JSON."""

    __tablename__ = "weekly_reports"
    id: int | None = Field(default=None, primary_key=True)
    week: dt.date = Field(unique=True, index=True)  # Monday the week starts
    created_at: dt.datetime
    html: str = Field(sa_column=Column(Text, nullable=False))
    data: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    job_run_id: int | None = Field(default=None, foreign_key="job_runs.id")
