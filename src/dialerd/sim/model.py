"""Who answers, how fast, and for how long: the simulated callees and agents.

Numbers with a recorded prefix behave exactly like the ``sim-callees`` extensions of the real
Asterisk the transcripts came from, so a test can ask for one outcome and compare with the
recording. E.164-style numbers follow a seeded statistical model instead, so benchmarks and the
demo see realistic mixes that are the same for the same seed, number and attempt.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, field
from enum import StrEnum


class CalleeKind(StrEnum):
    """What the callee side (the ``;2`` half) does with the call."""

    ANSWER = "answer"  # rings ring_time, answers, hangs up after talk_time
    BUSY = "busy"  # Busy(): causes 0 / 17
    NO_ANSWER = "no_answer"  # rings until the Originate timeout: causes 19 / 19
    CONGESTION = "congestion"  # Congestion(): causes 0 / 34
    INVALID = "invalid"  # Hangup(1) before answer: causes 1 / 1
    NO_ROUTE = "no_route"  # no such extension: causes 0 / 0, no DialBegin


class AmdVoice(StrEnum):
    """What app_amd would hear after answer."""

    SILENT = "silent"  # NOTSURE / TOOLONG-4900 after 5.0 s
    HELLO = "hello"  # HUMAN / HUMAN-800-800 after 1.96 s
    MACHINE = "machine"  # MACHINE / LONGGREETING-1500-1500 after 2.26 s


@dataclass(frozen=True, slots=True)
class CalleePlan:
    """The fate of one attempt, decided when the Originate arrives."""

    kind: CalleeKind
    label: str  # the NoOp text of the recorded extension ("live person", "busy", ...)
    ring_time: float = 0.0  # seconds of ringing before answer (ANSWER) or before failing
    talk_time: float = 0.0  # seconds from answer until the callee hangs up
    voice: AmdVoice = AmdVoice.SILENT
    ringing: bool = True  # sends Ringing() (a DialState RINGING) before answering
    # Dialplan steps of the ;2 half after Answer(): (application, data, seconds).
    script: tuple[tuple[str, str, float], ...] = ()

    def steps(self) -> tuple[tuple[str, str, float], ...]:
        """The steps after Answer(); a plain Wait(talk_time) unless recorded otherwise."""
        if self.script:
            return self.script
        return (("Wait", f"{max(1, round(self.talk_time))}", self.talk_time),)


@dataclass(frozen=True, slots=True)
class CalleeModel:
    """Shares and time distributions for numbers without a forced prefix.

    The shares are probabilities of one attempt; what is left after answer, busy, congestion and
    invalid rings until the Originate timeout (no answer). ``machine`` is the share of answers
    that are answering machines.
    """

    answer: float = 0.35
    busy: float = 0.10
    congestion: float = 0.02
    invalid: float = 0.02
    machine: float = 0.0
    ring_mean: float = 8.0
    ring_sd: float = 4.0
    talk_mean: float = 60.0
    talk_sd: float = 36.0
    machine_talk: float = 14.0

    def __post_init__(self) -> None:
        total = self.answer + self.busy + self.congestion + self.invalid
        if total > 1.0 + 1e-9 or min(self.answer, self.busy, self.congestion, self.invalid) < 0:
            raise ValueError("callee shares must be >= 0 and add up to at most 1")
        if not 0.0 <= self.machine <= 1.0:
            raise ValueError("machine share must be within 0..1")


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """One simulated softphone."""

    ring_delay: float = 1.0
    no_answer_probability: float = 0.0
    max_talk: float = 600.0  # the softphone hangs up after this (Wait(600) in sim-agents)


@dataclass(frozen=True, slots=True)
class AgentModel:
    """Softphones behind ``Local/agent-N@sim-agents``; ``rna-agent-N`` never answers."""

    ring_delay: float = 1.0
    no_answer_probability: float = 0.0
    max_talk: float = 600.0
    per_agent: dict[str, AgentProfile] = field(default_factory=dict)

    def profile(self, interface: str) -> AgentProfile:
        """The profile for a member interface (``Local/agent-1@sim-agents`` or ``agent-1``)."""
        exten = agent_exten(interface)
        for key in (interface, exten):
            if key in self.per_agent:
                return self.per_agent[key]
        if exten.startswith("rna-"):
            return AgentProfile(ring_delay=self.ring_delay, no_answer_probability=1.0)
        return AgentProfile(self.ring_delay, self.no_answer_probability, self.max_talk)


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """queues.conf of the recordings (``[dialer-q1]``) plus the connect context's limit."""

    member_timeout: float = 15.0  # timeout = 15: how long one member rings
    retry: float = 1.0  # retry = 1
    wrapuptime: float = 5.0  # wrapuptime = 5
    connect_timeout: float = 10.0  # Queue(dialer-q1,,,,10) in [dialer-connect]
    strategy: str = "rrmemory"
    default_queue: str = "dialer-q1"
    information_message: float = 1.822  # Playback(all-circuits-busy-now)
    queues: frozenset[str] | None = None
    """The queues queues.conf defines. None: every queue a client names exists (created on
    first use), as if queues.conf had each campaign's queues; a set: only those, as on a real
    Asterisk, which refuses a QueueAdd to another (``No such queue``) and whose Queue() on
    another sets QUEUESTATUS=UNKNOWN."""


@dataclass(frozen=True, slots=True)
class SimModel:
    """Everything the simulator decides about calls that the AMI client does not."""

    callee: CalleeModel = field(default_factory=CalleeModel)
    agents: AgentModel = field(default_factory=AgentModel)
    queue: QueueConfig = field(default_factory=QueueConfig)


# The recorded [sim-callees] extensions: _5550NXXXX.
_FORCED: dict[str, CalleePlan] = {
    "55501": CalleePlan(CalleeKind.ANSWER, "live person", 2.0, 20.04, AmdVoice.SILENT),
    "55502": CalleePlan(CalleeKind.BUSY, "busy", ringing=False),
    "55503": CalleePlan(CalleeKind.NO_ANSWER, "no answer"),
    "55504": CalleePlan(CalleeKind.CONGESTION, "congestion", ringing=False),
    "55505": CalleePlan(
        CalleeKind.ANSWER,
        "answering machine",
        0.0,
        14.0,
        AmdVoice.MACHINE,
        ringing=False,
        script=(("Playback", "tt-allbusy", 8.5), ("Wait", "5", 5.0)),
    ),
    "55506": CalleePlan(CalleeKind.INVALID, "invalid number", ringing=False),
    "55507": CalleePlan(CalleeKind.ANSWER, "short answer", 0.0, 3.02, ringing=False),
    "55508": CalleePlan(
        CalleeKind.ANSWER,
        "hello person",
        2.0,
        21.32,
        AmdVoice.HELLO,
        script=(("Playback", "hello", 0.8), ("Playback", "silence/3", 3.0), ("Wait", "17", 17.0)),
    ),
}
_FORCED_RE = re.compile(r"^5550[1-8]\d{4}$")
_E164_RE = re.compile(r"^\+?\d{10,15}$")
_NO_ROUTE = CalleePlan(CalleeKind.NO_ROUTE, "", ringing=False)


def agent_exten(interface: str) -> str:
    """``Local/agent-1@sim-agents`` -> ``agent-1``."""
    rest = interface.split("/", 1)[1] if "/" in interface else interface
    return rest.split("@", 1)[0]


def attempt_rng(seed: int, number: str, attempt: int) -> random.Random:
    """A generator that depends only on (seed, number, attempt), not on call order."""
    digest = hashlib.blake2b(f"{seed}|{number}|{attempt}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def lognormal(rng: random.Random, mean: float, sd: float) -> float:
    """A lognormal sample with the given mean and standard deviation (not of the log)."""
    if mean <= 0:
        return 0.0
    if sd <= 0:
        return mean
    sigma2 = math.log(1.0 + (sd / mean) ** 2)
    mu = math.log(mean) - sigma2 / 2.0
    return rng.lognormvariate(mu, math.sqrt(sigma2))


def plan_callee(number: str, model: CalleeModel, seed: int, attempt: int) -> CalleePlan:
    """Decide the fate of dialing ``number`` for the ``attempt``-th time (1-based)."""
    if _FORCED_RE.match(number):
        return _FORCED[number[:5]]
    if not _E164_RE.match(number):
        return _NO_ROUTE
    rng = attempt_rng(seed, number, attempt)
    u = rng.random()
    if u < model.answer:
        ring = max(0.5, lognormal(rng, model.ring_mean, model.ring_sd))
        if rng.random() < model.machine:
            return CalleePlan(
                CalleeKind.ANSWER,
                "answering machine",
                ring,
                model.machine_talk,
                AmdVoice.MACHINE,
                script=(("Playback", "greeting", model.machine_talk),),
            )
        talk = max(1.0, lognormal(rng, model.talk_mean, model.talk_sd))
        return CalleePlan(CalleeKind.ANSWER, "live person", ring, talk, AmdVoice.HELLO)
    u -= model.answer
    if u < model.busy:
        return CalleePlan(CalleeKind.BUSY, "busy", ringing=False)
    u -= model.busy
    if u < model.congestion:
        return CalleePlan(CalleeKind.CONGESTION, "congestion", ringing=False)
    u -= model.congestion
    if u < model.invalid:
        return CalleePlan(CalleeKind.INVALID, "invalid number", ringing=False)
    return CalleePlan(CalleeKind.NO_ANSWER, "no answer")


def callee_number(channel: str) -> tuple[str, str] | None:
    """``Local/555010004@sim-callees`` -> (``555010004``, ``sim-callees``); None if not Local."""
    if not channel.startswith("Local/") or "@" not in channel:
        return None
    exten, _, context = channel[len("Local/") :].partition("@")
    context = context.split("/", 1)[0]
    return exten, context
