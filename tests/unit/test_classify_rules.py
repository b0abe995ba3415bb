"""The offline keyword classifier: German and English notes, negations before positives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialerd.domain.agentwork import ResultClass
from dialerd.taskflow.classify import (
    ChatClassifier,
    ClassifierSettings,
    RulesClassifier,
    make_classifier,
)

P, N, PA, U = (
    ResultClass.POSITIVE,
    ResultClass.NEGATIVE,
    ResultClass.PARTIAL,
    ResultClass.UNCLASSIFIED,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Termin vereinbart für Dienstag", P),
        ("Hat bestellt, Vertrag kommt per Post", P),
        ("Customer agreed, order placed", P),
        ("Sale! signed today", P),
        ("Kein Interesse", N),
        ("kunde ist nicht interessiert", N),
        ("Not interested, please do not call again", N),
        ("hat sofort aufgelegt", N),
        ("Wrong number", N),
        ("Bitte Rückruf morgen nachmittag", PA),
        ("Will think about it, call back next week", PA),
        ("Vielleicht später, Unterlagen schicken", PA),
        ("Anrufbeantworter", U),
        ("", U),
        ("voicemail left", U),
    ],
)
def test_rules_classify_german_and_english(text: str, expected: ResultClass) -> None:
    assert RulesClassifier().classify_sync(text) is expected


async def test_async_interface_matches_sync() -> None:
    assert await RulesClassifier().classify("kein Interesse") is N


@given(st.text(max_size=300))
def test_any_text_gets_exactly_one_class(text: str) -> None:
    assert RulesClassifier().classify_sync(text) in set(ResultClass)


@given(st.text(max_size=100))
def test_a_refusal_stays_negative_whatever_follows(extra: str) -> None:
    assert RulesClassifier().classify_sync("kein Interesse. " + extra) is N


def test_default_classifier_needs_no_network() -> None:
    assert isinstance(make_classifier(), RulesClassifier)
    assert isinstance(make_classifier(ClassifierSettings()), RulesClassifier)
    chat = make_classifier(ClassifierSettings(url="http://127.0.0.1:9/v1", model="m"))
    assert isinstance(chat, ChatClassifier)
