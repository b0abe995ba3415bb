"""Result classes for free-text notes: a keyword classifier by default, an LLM endpoint optionally.

The default must work offline and decide the same way every time, so reports are reproducible:
German and English keyword rules, negative phrases checked before positive ones (``kein
Interesse`` contains ``Interesse``). An OpenAI-compatible chat endpoint can be configured for
better recall; any failure there (timeout, HTTP error, an answer that is not a class) falls back
to the rules, so a flaky endpoint never blocks an agent from saving a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import structlog

from dialerd.domain.agentwork import ResultClass

log = structlog.get_logger(__name__)

__all__ = [
    "ChatClassifier",
    "Classifier",
    "ClassifierSettings",
    "RulesClassifier",
    "make_classifier",
]


class Classifier(Protocol):
    async def classify(self, text: str) -> ResultClass: ...


def _patterns(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")", re.IGNORECASE)


_NEGATIVE = _patterns(
    (
        r"kein(?:e|en)?\s+interesse",
        r"nicht\s+interessiert",
        r"no\s+interest",
        r"not\s+interested",
        r"abgelehnt",
        r"lehnt\s+ab",
        r"absage",
        r"declined?",
        r"refused",
        r"nie\s+wieder",
        r"do\s+not\s+call",
        r"nicht\s+mehr\s+anrufen",
        r"don'?t\s+call",
        r"aufgelegt",
        r"hung\s+up",
        r"falsche\s+nummer",
        r"wrong\s+number",
        r"verärgert",
        r"angry",
        r"unsubscribe",
        r"kündig",
        r"cancel",
    )
)
_PARTIAL = _patterns(
    (
        r"rückruf",
        r"zurückrufen",
        r"call\s*back",
        r"callback",
        r"später",
        r"later",
        r"vielleicht",
        r"maybe",
        r"überlegt",
        r"überlegen",
        r"think(?:ing)?\s+about",
        r"unterlagen",
        r"infomaterial",
        r"send\s+(?:info|information|details|brochure)",
        r"angebot\s+schicken",
        r"termin\s+(?:offen|unklar)",
        r"not\s+(?:now|today)",
        r"teilweise",
        r"partly",
        r"follow[\s-]?up",
    )
)
_POSITIVE = _patterns(
    (
        r"verkauf",
        r"abschluss",
        r"abgeschlossen",
        r"bestellt",
        r"bestellung",
        r"zugesagt",
        r"zusage",
        r"termin\s+(?:vereinbart|gebucht|bestätigt)",
        r"interessiert",
        r"interesse",
        r"gekauft",
        r"vertrag",
        r"sale",
        r"sold",
        r"ordered",
        r"order\s+placed",
        r"signed",
        r"deal",
        r"agreed",
        r"interested",
        r"appointment\s+(?:set|booked|confirmed)",
        r"booked",
        r"success",
        r"yes",
    )
)


@dataclass(frozen=True, slots=True)
class RulesClassifier:
    """Keyword rules (German and English); the default, no network."""

    async def classify(self, text: str) -> ResultClass:
        return self.classify_sync(text)

    def classify_sync(self, text: str) -> ResultClass:
        if _NEGATIVE.search(text):
            return ResultClass.NEGATIVE
        if _PARTIAL.search(text):
            return ResultClass.PARTIAL
        if _POSITIVE.search(text):
            return ResultClass.POSITIVE
        return ResultClass.UNCLASSIFIED


_PROMPT = (
    "You classify a call-centre agent's note about a phone call with a contact. Answer with "
    "exactly one word: positive (sale, appointment, agreement), negative (refusal, not "
    "interested, wrong number), partial (call back later, thinking about it, send information) "
    "or unclassified (cannot tell). The note may be German or English."
)
_ANSWER = re.compile(r"\b(positive|negative|partial|unclassified)\b", re.IGNORECASE)


@dataclass(slots=True)
class ChatClassifier:
    """An OpenAI-compatible ``/chat/completions`` endpoint, with the rules as fallback."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 5.0
    fallback: RulesClassifier = field(default_factory=RulesClassifier)
    transport: httpx.AsyncBaseTransport | None = None

    def _endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"

    async def classify(self, text: str) -> ResultClass:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _PROMPT},
                {"role": "user", "content": text},
            ],
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                response = await client.post(self._endpoint(), json=body, headers=headers)
                response.raise_for_status()
                answer = str(response.json()["choices"][0]["message"]["content"])
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            log.warning("classify.endpoint_failed", error=repr(exc), url=self.url)
            return self.fallback.classify_sync(text)
        match = _ANSWER.search(answer)
        if match is None:
            log.warning("classify.endpoint_unusable_answer", answer=answer[:200])
            return self.fallback.classify_sync(text)
        return ResultClass(match.group(1).lower())


@dataclass(frozen=True, slots=True)
class ClassifierSettings:
    """``[classifier]`` of the configuration: no ``url`` means the offline rules."""

    url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    timeout: float = 5.0


def make_classifier(settings: ClassifierSettings | None = None) -> Classifier:
    if settings is None or not settings.url:
        return RulesClassifier()
    return ChatClassifier(
        settings.url, settings.model, api_key=settings.api_key, timeout=settings.timeout
    )
