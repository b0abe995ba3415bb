"""The pure parts of the check of the queues Asterisk must have: which queues are needed and
by whom, what a check changed, how /healthz and the metric say it, the AMI reply's reading."""

from __future__ import annotations

import asyncio

from dialerd.ami.codec import Message, MessageKind
from dialerd.ami.errors import AmiActionFailed
from dialerd.ami.events import QueueListed, normalise
from dialerd.api.health import HealthChecks, health_status, run_checks
from dialerd.daemon.metrics import Metrics
from dialerd.domain.model import Agent
from dialerd.engine.queues import CampaignQueue, QueueBook, agent_queues, needed_queues


def test_an_agent_needs_the_campaign_queue_and_their_own_one_only_own_in_preview() -> None:
    assert agent_queues(CampaignQueue("sales", "q1"), "ann") == ["q1", "q1.ann"]
    assert agent_queues(CampaignQueue("sales", "q1", preview=True), "ann") == ["q1.ann"]


def test_needed_queues_follow_the_campaigns_each_agent_takes_on_its_server() -> None:
    campaigns = [
        CampaignQueue("sales", "q-sales"),
        CampaignQueue("leads", "q-leads", preview=True),
        CampaignQueue("other", "q-other"),
    ]
    agents = [
        (Agent("ann", "PJSIP/1", campaigns=("sales", "leads")), "pbx1"),
        (Agent("bob", "PJSIP/2", skills=("q-sales",)), "pbx2"),
        (Agent("cid", "PJSIP/3"), "pbx1"),  # names neither: every campaign
    ]
    needed = needed_queues(agents, campaigns)
    assert needed == {
        "pbx1": {
            "q-leads.ann": ("agent ann in campaign leads",),
            "q-leads.cid": ("agent cid in campaign leads",),
            "q-other": ("campaign other",),
            "q-other.cid": ("agent cid in campaign other",),
            "q-sales": ("campaign sales",),
            "q-sales.ann": ("agent ann in campaign sales",),
            "q-sales.cid": ("agent cid in campaign sales",),
        },
        "pbx2": {
            "q-sales": ("campaign sales",),
            "q-sales.bob": ("agent bob in campaign sales",),
        },
    }


def test_a_check_reports_what_went_missing_and_what_was_defined_since() -> None:
    book = QueueBook()
    assert not book.is_missing("pbx1", "q1")  # never checked: not held back
    change = book.record("pbx1", {"q1": False, "q1.ann": True}, ["q1", "q1.ann"])
    assert (change.missing, change.defined) == (("q1",), ())
    assert book.is_missing("pbx1", "q1") and not book.is_missing("pbx2", "q1")
    assert book.missing() == {"pbx1": ("q1",)}
    assert not book.record("pbx1", {"q1": False, "q1.ann": True})  # nothing new: no change
    change = book.record("pbx1", {"q1": True})
    assert (change.missing, change.defined) == ((), ("q1",))
    assert book.missing() == {}


def test_a_check_cut_short_keeps_what_it_did_not_ask_and_forgets_what_is_not_needed() -> None:
    book = QueueBook()
    book.record("pbx1", {"a": False, "b": False})
    change = book.record("pbx1", {"a": True}, ["a", "b"])  # b not asked (link lost)
    assert change.defined == ("a",) and book.missing() == {"pbx1": ("b",)}
    change = book.record("pbx1", {}, ["a"])  # b's campaign is gone
    assert not change and book.missing() == {}


def test_a_refused_queue_add_marks_the_queue_missing_once() -> None:
    book = QueueBook()
    assert book.note_missing("pbx1", "q1.ann").missing == ("q1.ann",)
    assert not book.note_missing("pbx1", "q1.ann")


def test_queue_params_items_read_as_queues_and_no_such_queue_is_recognised() -> None:
    params = Message(
        MessageKind.EVENT,
        "QueueParams",
        (("Event", "QueueParams"), ("Queue", "dialer-q1"), ("Max", "0"), ("ActionID", "7")),
    )
    assert normalise(params) == QueueListed("dialer-q1")
    refused = Message(
        MessageKind.RESPONSE,
        "Error",
        (("Response", "Error"), ("Message", "Unable to add interface to queue: No such queue")),
    )
    assert AmiActionFailed("QueueAdd", refused).no_such_queue
    there = Message(
        MessageKind.RESPONSE,
        "Error",
        (("Response", "Error"), ("Message", "Unable to add interface: Already there")),
    )
    assert not AmiActionFailed("QueueAdd", there).no_such_queue


def test_healthz_is_degraded_not_unhealthy_and_names_server_and_queue() -> None:
    missing = {"pbx1": ("q1", "q1.ann")}
    ok, report = asyncio.run(
        run_checks(HealthChecks(missing_queues=lambda: missing, loop_lag=lambda: 0.0))
    )
    assert ok  # HTTP 200: the other campaigns dial
    assert report["queues"] == {"ok": False, "missing": {"pbx1": ["q1", "q1.ann"]}}
    assert health_status(ok, report) == "degraded"
    ok, report = asyncio.run(run_checks(HealthChecks(missing_queues=dict, loop_lag=lambda: 0.0)))
    assert report["queues"] == {"ok": True, "missing": {}}
    assert health_status(ok, report) == "ok"
    assert health_status(False, report) == "unhealthy"


def test_the_missing_queue_gauge_is_1_while_missing_and_0_once_defined() -> None:
    m = Metrics()

    def value(queue: str) -> float | None:
        return m.registry.get_sample_value(
            "dialerd_queue_missing", {"server": "pbx1", "queue": queue}
        )

    m.set_queues_missing({"pbx1": ("q1", "q1.ann")})
    assert (value("q1"), value("q1.ann")) == (1.0, 1.0)
    m.set_queues_missing({"pbx1": ("q1.ann",)})
    assert (value("q1"), value("q1.ann")) == (0.0, 1.0)
