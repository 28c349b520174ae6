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
    "DigitalEvent",
    "IngestRepair",
    "IngestRun",
    "Interaction",
    "Market",
    "Quarantine",
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
