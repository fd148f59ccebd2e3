"""The candidate is one person however a visitor names them (tasks/core/candidate.py):
second and third person, the name and its aliases fold to one word, verbs agree, other
people's names stay."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tasks.core.candidate import MAX_ALIASES, MAX_NAME, Candidate

SAM = Candidate("Sam Lee")
#: The word every naming of the candidate becomes.
WORD = "candidate"


def test_every_way_of_naming_the_candidate_is_one_text() -> None:
    asked = [
        "what are your skills?",
        "what are Sam's skills?",
        "what are his skills?",
        "what are her skills",
        "what are Sam Lee's skills",
        "What are SAM LEE\u2019S skills?",
        "what are their skills?",
        "what are ur skills?",
        "what are the candidate's skills?",
    ]
    # fold keeps punctuation (the analyzers drop it): compare without the question mark
    assert {SAM.fold(query).rstrip("?") for query in asked} == {"what is candidate skills"}


def test_the_first_name_and_the_aliases_are_the_candidate() -> None:
    candidate = Candidate("Sam Lee", ("Mr Lee", "SL", "Sammy"))
    assert candidate.fold("what does Mr Lee do?") == candidate.fold("what does Sam do?")
    assert candidate.fold("what does Mr Lee do?") == candidate.fold("what do you do?")
    assert candidate.fold("is Sammy remote?") == "is candidate remote?"
    assert candidate.fold("SL's cv") == "candidate cv"
    assert candidate.fold("mr  lee's cv") == "candidate cv"  # whitespace inside a name
    assert candidate.fold("the lees' house") == "the lees' house"  # "lee" alone is no alias
    assert candidate.fold("sams' cv") == "candidate cv"  # the plural possessive
    # the name is matched whole: a longer word or a hyphenated one is someone else
    assert candidate.fold("is samantha free?") == "is samantha free?"
    assert candidate.fold("sam-lee.com") == "sam-lee.com"
    # a name with the characters of a regular expression is taken literally
    dotted = Candidate("J.R. Smith")
    assert dotted.fold("what does J.R. Smith do") == dotted.fold("what does he do")
    assert dotted.fold("what does JxR Smith do") == "what does jxr smith do"


def test_other_people_are_left_alone() -> None:
    assert SAM.fold("did Sam work with Tom?") == "did candidate work with tom?"
    assert SAM.fold("is he related to Bruce Lee?") == "is candidate related to bruce lee?"
    assert (
        SAM.fold("did you meet Maria Silva at Acme?") == "did candidate meet maria silva at acme?"
    )


@pytest.mark.parametrize(
    ("second", "third"),
    [
        ("are you remote?", "is he remote?"),
        ("were you at acme?", "was she at acme?"),
        ("do you know kafka?", "does he know kafka?"),
        ("have you used kafka?", "has Sam used kafka?"),
        ("you're great", "he's great"),
        ("you are great", "Sam is great"),
        ("you have a degree?", "Sam Lee has a degree?"),
        ("you've led teams?", "Sam has led teams?"),
        ("you'd relocate?", "she'd relocate?"),
        ("you'll start when?", "they'll start when?"),
        ("u r remote?", "u r remote?"),  # txt speak: "r" is not a verb it knows, and stays
    ],
)
def test_the_verb_agrees_with_one_third_person(second: str, third: str) -> None:
    assert SAM.fold(second) == SAM.fold(third)
    assert WORD in SAM.fold(second).split()


def test_agreement_of_the_plain_forms() -> None:
    assert SAM.fold("are you remote?") == "is candidate remote?"
    assert SAM.fold("do they know go") == "does candidate know go"
    assert SAM.fold("you were there") == "candidate was there"
    assert SAM.fold("they have it") == "candidate has it"
    # "you and he": one person named twice is named once
    assert SAM.fold("you, you") == "candidate, candidate"
    assert SAM.fold("you you") == "candidate"


def test_without_a_name_only_pronouns_fold() -> None:
    nobody = Candidate()
    assert nobody.fold("what are his skills?") == "what is candidate skills?"
    assert nobody.fold("What are YOUR skills?") == "what is candidate skills?"
    assert nobody.fold("what are Sam's skills?") == "what are sam's skills?"
    assert nobody.fold("  \t ") == ""
    # a blank name or a one-letter one names nobody either
    assert Candidate("   ").fold("is sam in?") == "is sam in?"
    assert Candidate("J").fold("is j in?") == "is j in?"


def test_lower_case_and_one_space() -> None:
    assert SAM.fold("  Where\tIS\n\nTom  based? ") == "where is tom based?"


def test_name_lengths_and_alias_counts_are_bounded() -> None:
    Candidate("x" * MAX_NAME, ("y" * MAX_NAME,) * MAX_ALIASES)  # at the bounds: accepted
    with pytest.raises(ValueError, match="at most 100 characters"):
        Candidate("x" * (MAX_NAME + 1))
    with pytest.raises(ValueError, match="at most 100 characters"):
        Candidate("Sam", ("y" * (MAX_NAME + 1),))
    with pytest.raises(ValueError, match="at most 20 candidate aliases"):
        Candidate("Sam", tuple(f"alias{i}" for i in range(MAX_ALIASES + 1)))


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("anyone here?", "anyone here?"),
        ("is he here?", "is candidate here?"),
        ("here is my cv", "here is my cv"),
    ],
)
def test_here_is_not_he_are(text: str, folded: str) -> None:
    assert SAM.fold(text) == folded


def test_a_typographic_apostrophe_in_the_configured_name() -> None:
    curly = Candidate("Dara O\u2019Brien")
    assert curly.fold("what does Dara O'Brien do") == curly.fold("what does he do")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("are  you remote?", id="two-spaces"),
        pytest.param("are\nyou remote?", id="newline"),
        pytest.param("the you", id="a-phrase-made-by-folding"),
        pytest.param("the   candidate", id="spaced-phrase"),
    ],
)
def test_whitespace_runs_fold_like_one_space(text: str) -> None:
    assert SAM.fold(text) == SAM.fold(" ".join(text.split())) == SAM.fold(SAM.fold(text))


_WORDS = st.sampled_from(
    [
        "you",
        "your",
        "you're",
        "you\u2019ve",
        "u",
        "ur",
        "he",
        "he's",
        "she",
        "her",
        "they",
        "their",
        "the",
        "candidate",
        "this",
        "applicant",
        "are",
        "is",
        "were",
        "do",
        "does",
        "have",
        "has",
        "Sam",
        "Sam's",
        "sams'",
        "Lee",
        "Tom",
        "kafka",
        "?",
        "'",
        "-",
        "'s",
    ]
)
_SEPARATORS = st.sampled_from([" ", "  ", "\n", "\t", "", ", ", "-", "'"])
_PHRASES = st.lists(st.tuples(_WORDS, _SEPARATORS), max_size=12).map(
    lambda pairs: "".join(word + separator for word, separator in pairs)
)
_NAMES = st.text(max_size=MAX_NAME)
_ALIASES = st.lists(st.text(max_size=MAX_NAME), max_size=MAX_ALIASES).map(tuple)


@given(st.one_of(st.text(max_size=300), _PHRASES), _NAMES, _ALIASES)
def test_fold_never_raises_and_gives_one_spaced_lower_case(
    text: str, name: str, aliases: tuple[str, ...]
) -> None:
    folded = Candidate(name, aliases).fold(text)
    assert folded == folded.strip()
    assert "  " not in folded and "\n" not in folded


@given(st.one_of(_PHRASES, st.text(max_size=200)))
@example("are  you remote?")
@example("the you")
def test_fold_is_idempotent(text: str) -> None:
    for candidate in (SAM, Candidate(), Candidate("Sam Lee", ("Mr Lee",))):
        once = candidate.fold(text)
        assert candidate.fold(once) == once


def test_fold_is_idempotent_on_single_spaced_questions() -> None:
    # the part of idempotence that holds today, on ordinary questions
    for text in [
        "what are your skills?",
        "are you remote?",
        "does Sam know Tom's team?",
        "you're the candidate, aren't you?",
        "have you and Sam Lee's team used kafka?",
        "the applicant's cv",
    ]:
        once = SAM.fold(text)
        assert SAM.fold(once) == once, text


@pytest.mark.parametrize(
    "unit",
    [
        "you're ",
        "are you ",
        "Sam Lee's ",
        "sam ",
        "sam" + " " * 999 + "x ",  # a name's \s+ meets a long run of spaces
        "you" + " " * 999 + "'re ",
        "candidate ",
        "the candidate ",
        "'" * 50 + "s ",
        "\u2019s ",
        "x" * 1000 + " ",
        "é\u0130\u00df ",
    ],
)
def test_fold_runs_on_100_kb(unit: str) -> None:
    text = unit * (100_000 // len(unit) + 1)
    assert len(text) >= 100_000
    folded = SAM.fold(text)
    assert len(folded) <= len(text) * 2
    assert folded == folded.strip()
