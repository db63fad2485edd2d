"""What a finished chat call does to the history (lib/context/answers.py): the reply after its question
once and never twice, a regenerated answer replacing the old one or following it."""

from __future__ import annotations

import pytest

from lib.context.answers import Regeneration, answered
from lib.context.conversation import Message
from lib.core.outcome import CallOutcome


def test_an_answer_lands_after_its_question_once_and_never_twice():
    question, later = Message("user", "Q", status="unanswered"), Message("user", "typed after")
    history = [question, later]
    outcome = CallOutcome(text="A", finish_reason="stop")
    once = answered(history, question.id, "reply-id", outcome)
    assert [m.content for m in once] == ["Q", "A", "typed after"] and once[0].status == "ok"
    assert answered(once, question.id, "reply-id", outcome) == once
    assert answered([later], question.id, "reply-id", outcome) == [later]  # its question deleted meanwhile


@pytest.mark.parametrize("keep", [False, True])
def test_a_regenerated_answer_replaces_or_follows_the_old_one_once(keep):
    question, old = Message("user", "Q"), Message("assistant", "old")
    regeneration = Regeneration(question.id, old.id, keep)
    outcome = CallOutcome(text="new", finish_reason="stop")
    once = answered([question, old], question.id, "new-id", outcome, regeneration)
    expected = ["Q", "old", "new"] if keep else ["Q", "new"]
    assert [m.content for m in once] == expected and answered(
        once, question.id, "new-id", outcome, regeneration
    ) == once
    if keep:
        assert once[1].included is False
