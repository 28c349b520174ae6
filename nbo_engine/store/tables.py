"""SQLModel tables: one per input entity, plus ingest bookkeeping.

Input tables mirror the data contract (``nbo_engine/ingest/schemas.py``); a test
checks every contract column has a column here of a compatible type. Money is a
double rounded to cents: this store feeds analytics, it is not a ledger.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "Account",
    "Balance",
    "Bureau",
    "CampaignHistory",
    "Customer",
    "CustomerAlias",
    "CustomerRelationship",
    "CustomerScore",
    "DigitalEvent",
    "IngestRepair",
    "IngestRun",
    "Interaction",
    "InteractionSentiment",
    "Market",
    "ModelVersion",
    "Quarantine",
    "ScoreSnapshot",
    "SegmentProfile",
    "Transaction",
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
