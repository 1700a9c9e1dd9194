"""LocalAgreement-2: shown words are those two drafts agree on, never taken back; the final completes them."""

from __future__ import annotations

from whisperd.realtime.agreement import Agreement


def test_words_appear_once_two_drafts_agree() -> None:
    agreement = Agreement()
    assert agreement.update("And so") == ""  # nothing to agree with yet
    assert agreement.update("And so my fel") == "And so"
    assert agreement.update("And so my fellow Americans") == " my"
    assert agreement.update("And so, my fellow Americans, ask") == " fellow Americans,"
    assert agreement.complete("And so, my fellow Americans, ask not.") == " ask not."
    assert " ".join(agreement.shown) == "And so my fellow Americans, ask not."


def test_a_draft_that_revises_a_shown_word_counts_from_after_it() -> None:
    """Measured on jfk with tiny.en: two drafts agreed on "am I", every later one said "my", and no
    other word was shown for the rest of the sentence while the words after it were never compared."""
    agreement = Agreement()
    agreement.update("And so am I")
    assert agreement.update("And so am I fellow") == "And so am I"
    assert agreement.update("And so, my fellow Americans") == " fellow"
    assert agreement.update("And so, my fellow Americans, ask not") == " Americans,"
    assert agreement.update("And so, my fellow Americans, ask not what") == " ask not"
    assert (
        agreement.complete("And so, my fellow Americans, ask not what your country") == " what your country"
    )
    assert agreement.text == "And so am I fellow Americans, ask not what your country"


def test_a_draft_that_revises_and_then_agrees_again() -> None:
    agreement = Agreement()
    agreement.update("I scream")
    assert agreement.update("I scream for") == "I scream"
    assert agreement.update("Ice cream for you") == " for"  # both say "for" after the shown words
    assert agreement.update("I scream for you all") == " you"
    assert agreement.complete("Ice cream for you all.") == " all."


def test_case_and_punctuation_do_not_block_agreement() -> None:
    agreement = Agreement()
    agreement.update("hello world")
    assert agreement.update("Hello, world! How") == "Hello, world!"


def test_completing_extends_shown_words_with_the_final_decode() -> None:
    agreement = Agreement()
    agreement.update("And so my")
    assert agreement.update("And so my fellow") == "And so my"
    assert agreement.complete("And so, my fellow Americans, ask not.") == " fellow Americans, ask not."
    assert agreement.text == "And so my fellow Americans, ask not."


def test_completing_after_a_revised_word_keeps_what_was_shown_and_goes_on_after_it() -> None:
    """A streaming client builds the text from the chunks: shown words stand, the final decode only
    adds what comes after them (two shown words that the final decode heard as one; one word revised)."""
    agreement = Agreement()
    agreement.update("And so am I fellow Americans.")
    assert agreement.update("And so am I fellow Americans ask") == "And so am I fellow Americans"
    final = "And so, my fellow Americans ask not what your country can do for you."
    assert agreement.complete(final) == " ask not what your country can do for you."
    other = Agreement()
    other.update("ask not what your")
    other.update("ask not what your")
    assert other.complete("Ask not what you're country can do") == " country can do"


def test_completing_with_nothing_in_common_appends_after_as_many_words() -> None:
    agreement = Agreement()
    agreement.update("hello there")
    agreement.update("hello there")
    assert agreement.complete("good morning to you") == " to you"
    assert Agreement().complete("") == ""
    assert Agreement().complete(" Hello world. ") == "Hello world."
