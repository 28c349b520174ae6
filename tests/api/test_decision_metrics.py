"""/metrics counts decisions and their latency per channel, with bounded
label values, through the real app served by uvicorn on the scored bank."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from nbo_engine.api.metrics import CHANNELS, channel_label
from nbo_engine.ingest.schemas import CONTACT_CHANNELS
from tests.api.conftest import Live
from tests.scored_bank import Customers

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_decisions_and_latency_are_labelled_per_channel(
    bank_live: Live, bank_keys: dict[str, str], customers: Customers
) -> None:
    sent = {"web": 3, "email": 2}
    with bank_live.client(bank_keys["admin"]) as admin:
        before = _samples(admin.get("/metrics").text)
    with bank_live.client(bank_keys["channel"]) as client:
        for channel, n in sent.items():
            for cid in customers.take(n):
                r = client.post(
                    "/v1/offers", json={"customer_id": cid, "channel": channel}
                )
                assert r.status_code == 200, r.text
        # A refused request is not a decision served.
        r = client.post(
            "/v1/offers", json={"customer_id": "C-NOBODY", "channel": "mobile"}
        )
        assert r.status_code == 404
    with bank_live.client(bank_keys["admin"]) as admin:
        after = _samples(admin.get("/metrics").text)

    def delta(name: str, channel: str) -> float:
        key = (name, frozenset({("channel", channel)}))
        return after.get(key, 0.0) - before.get(key, 0.0)

    for channel in CONTACT_CHANNELS:
        expected = sent.get(channel, 0)
        assert delta("nbo_decisions_total", channel) == expected, channel
        assert delta("nbo_decision_latency_seconds_count", channel) == expected
        # Every channel's series exists from start-up, even at zero.
        assert ("nbo_decisions_total", frozenset({("channel", channel)})) in after
    assert delta("nbo_decision_latency_seconds_sum", "web") > 0
    # Label values stay in the bounded set; no other label on these metrics.
    for name, labels in after:
        if name.startswith(("nbo_decisions", "nbo_decision_latency")):
            keys = {k for k, _ in labels}
            assert keys <= {"channel", "le"}, (name, labels)
            assert dict(labels)["channel"] in CHANNELS


def test_unknown_channels_fold_into_other() -> None:
    assert channel_label("web") == "web"
    assert channel_label("fax") == "other"
    assert set(CHANNELS) == {*CONTACT_CHANNELS, "other"}
