"""Every exception nbo-engine raises on purpose lives here.

Messages say what was wrong, where, what was received and what was expected,
e.g. ``transactions.csv row 812 (transaction_id=T-77): column 'amount' is 'abc',
expected a number``.
"""

from __future__ import annotations

__all__ = [
    "ApiKeyError",
    "ConfigError",
    "DataValidationError",
    "DecisionInputError",
    "ExperimentSpecError",
    "ExperimentStateError",
    "FileFormatError",
    "JobError",
    "NboError",
    "NoActivePolicyError",
    "NotFittedError",
    "PolicyFileError",
    "PolicySpecError",
    "ProposalStateError",
    "RetuneError",
    "RuleError",
    "SegmentationError",
    "StateFormatError",
    "StoreError",
    "UnknownCustomerError",
    "UnknownDecisionError",
    "UnknownExperimentError",
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


class ExperimentSpecError(PolicySpecError):
    """An experiment definition (YAML) or a set of experiments is invalid."""


class StateFormatError(NboError, ValueError):
    """Serialised state (e.g. a bandit policy's bytes) is corrupt, of another
    class, or of a format version this release cannot read."""


class RuleError(PolicySpecError):
    """An eligibility rule does not parse or does not fit the field schema.

    ``issues`` holds ``(line, column, message)`` of every problem found,
    positions 1-based within the rule text.
    """

    def __init__(self, issues: list[tuple[int, int, str]]) -> None:
        self.issues: tuple[tuple[int, int, str], ...] = tuple(issues)
        super().__init__(
            "; ".join(f"line {ln}, column {col}: {msg}" for ln, col, msg in issues)
        )


class PolicyFileError(PolicySpecError):
    """A policy file is invalid; ``problems`` lists every problem found, each
    as ``file:line path: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        n = len(problems)
        super().__init__(
            f"{n} problem{'s' if n != 1 else ''} in the policy:\n" + "\n".join(problems)
        )


class SegmentationError(NboError, ValueError):
    """No clustering candidate passed validation (stability, cluster sizes,
    noise); the message lists every candidate and why it was rejected."""


class ApiKeyError(NboError, ValueError):
    """An API key operation was refused: unknown role, unknown key id, bad rate."""


class UnknownDecisionError(DataValidationError):
    """Outcome events refer to decisions the log does not hold (or to offers a
    decision did not choose); ``decision_ids`` lists the unknown ids."""

    def __init__(self, message: str, decision_ids: list[str]) -> None:
        self.decision_ids: tuple[str, ...] = tuple(decision_ids)
        super().__init__(message)


class NoActivePolicyError(NboError):
    """No policy version is published into the ``live`` slot, so no decision
    can be made (``nbo policy publish FILE --activate``)."""


class UnknownCustomerError(NboError, LookupError):
    """A decision was asked for a customer who is not in the active score
    snapshot; ``customer_id`` holds the id received."""

    def __init__(self, message: str, customer_id: str) -> None:
        self.customer_id = customer_id
        super().__init__(message)


class DecisionInputError(NboError, ValueError):
    """A decision request is malformed (channel, number of offers, a context
    field); ``field`` and ``value`` name what was received."""

    def __init__(self, message: str, field: str, value: object) -> None:
        self.field = field
        self.value = value
        super().__init__(message)


class UnknownExperimentError(NboError, LookupError):
    """No experiment of that name is stored; ``name`` holds the name received."""

    def __init__(self, message: str, name: str) -> None:
        self.name = name
        super().__init__(message)


class ExperimentStateError(NboError):
    """An experiment change conflicts with its state or with other experiments:
    a duplicate name, starting one that is not a draft, stopping one already
    stopped, a ramp that would move customers, overlapping layers, a second
    global holdout."""


class JobError(NboError, ValueError):
    """A job request is invalid: an unknown job name, a malformed period key,
    a period that has not ended yet, or a job whose body returned something
    other than a mapping of counts."""


class RetuneError(NboError, ValueError):
    """Retune input that cannot be used: evidence of the wrong shape or range, a
    guardrail setting out of its limits, or a change that does not fit the
    policy it is applied to."""


class ProposalStateError(NboError):
    """A retune proposal cannot make the transition asked: approving one that
    is not awaiting approval, one made against a policy version that no longer
    serves, or an unknown proposal or version."""
