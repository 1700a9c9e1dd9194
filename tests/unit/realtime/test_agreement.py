"""LocalAgreement-2: shown words are those two drafts agree on, never taken back; the final completes them."""

from __future__ import annotations

from whisperd.realtime.agreement import Agreement


def test_words_appear_once_two_drafts_agree() -> None:
    agreement = Agreement()
    assert agreement.update("And so") == ""  # nothing to agree with yet
    assert agreement.update("And so my fel") == "And so"
    assert agreement.update("And so my fellow Americans") == " my"
    assert agreement.update("And so, my fellow Americans, ask") == " fellow Americans,"
    assert agreement.finish("And so, my fellow Americans, ask not.") == " ask not."
    assert " ".join(agreement.shown) == "And so my fellow Americans, ask not."


def test_a_draft_that_revises_shown_words_waits() -> None:
    agreement = Agreement()
    agreement.update("I scream")
    assert agreement.update("I scream for") == "I scream"
    assert agreement.update("Ice cream for you") == ""  # revises a shown word: nothing more for now
    assert agreement.update("I scream for you") == ""  # agrees with the shown words, not yet with the last
    assert agreement.update("I scream for you all") == " for you"
    assert (
        agreement.finish("Ice cream for you all.") == ""
    )  # the final revised it: completed is authoritative


def test_case_and_punctuation_do_not_block_agreement() -> None:
    agreement = Agreement()
    agreement.update("hello world")
    assert agreement.update("Hello, world! How") == "Hello, world!"
