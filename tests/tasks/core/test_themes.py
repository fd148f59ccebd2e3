"""Themes (report-insights.md, "Themes"): grouping by question key, strict paraphrases for
questions no topic knows (never a catch-all), labels, ordering, cross-week judgement."""

from __future__ import annotations

import random

import pytest

from tasks.core.candidate import Candidate
from tasks.core.embedding import embed, load_model
from tasks.core.intents import Questions, classify_intent
from tasks.core.themes import (
    PARAPHRASE_SIMILARITY,
    Member,
    Theme,
    group_themes,
    question_key,
    recurrence,
)

WEEK = {
    "day rate?": 5,
    "how much does he charge per day": 2,
    "what's his hourly rate": 3,
    "k8s?": 4,
    "does he know kubernetes": 4,
    "does he know fortran?": 1,
    "does he know react?": 6,
    "notice period?": 2,
    "when can he start?": 1,
    "email me at [email] about a role": 1,
    "call [phone] if he is free": 1,
    "is he married": 1,
    "tell me a joke": 1,
}

#: Off-topic questions that have nothing to do with each other.
UNRELATED = [
    "can he fly a plane?",
    "what's the weather in paris",
    "who won the world cup",
    "tell me a joke",
    "can he cook?",
    "what's the capital of france?",
    "can he fly a helicopter?",  # close in words, another question
]


def themes_of(week: dict[str, int]) -> list[Theme]:
    return group_themes(list(week), list(week.values()))


def theme_containing(themes: list[Theme], query: str) -> Theme:
    (found,) = [theme for theme in themes if query in theme.queries]
    return found


def partition(themes: list[Theme]) -> set[frozenset[str]]:
    return {frozenset(theme.queries) for theme in themes}


def test_every_query_is_in_exactly_one_theme_with_one_intent() -> None:
    themes = themes_of(WEEK)
    members = [query for theme in themes for query in theme.queries]
    assert sorted(members) == sorted(WEEK)
    for theme in themes:
        assert {classify_intent(query) for query in theme.queries} == {theme.intent}
        assert theme.count == sum(WEEK[query] for query in theme.queries)


def test_paraphrases_share_a_theme() -> None:
    themes = themes_of(WEEK)
    pay = theme_containing(themes, "day rate?")
    assert set(pay.queries) == {
        "day rate?",
        "how much does he charge per day",
        "what's his hourly rate",
    }
    assert set(theme_containing(themes, "notice period?").queries) == {
        "notice period?",
        "when can he start?",
    }
    masked = theme_containing(themes, "call [phone] if he is free")
    assert "email me at [email] about a role" in masked.queries


def test_synonyms_that_share_no_word_share_a_theme() -> None:
    themes = themes_of(WEEK)
    assert theme_containing(themes, "k8s?") is theme_containing(themes, "does he know kubernetes")
    both = group_themes(["salary expectations?", "what does he charge?"], [1, 1])
    assert len(both) == 1
    langs = group_themes(["does he speak german?", "sprechen sie deutsch?"], [1, 1])
    assert len(langs) == 1


def test_different_questions_are_apart() -> None:
    themes = themes_of(WEEK)
    assert theme_containing(themes, "does he know fortran?") is not theme_containing(
        themes, "does he know react?"
    )
    assert theme_containing(themes, "is he married") is not theme_containing(themes, "day rate?")
    apart = group_themes(
        ["where is he based?", "is he willing to relocate?", "remote ok?", "does he need a visa"],
        [1, 1, 1, 1],
    )
    assert len(apart) == 4


def test_labels_are_the_top_member_ties_alphabetical() -> None:
    themes = themes_of(WEEK)
    assert theme_containing(themes, "day rate?").theme == "day rate?"  # 5 beats 3 and 2
    # k8s? and "does he know kubernetes" both have 4: the alphabetically first wins.
    assert theme_containing(themes, "k8s?").theme == "does he know kubernetes"
    tied = group_themes(["what's his rate", "day rate?"], [2, 2])
    assert tied[0].theme == "day rate?"


def test_members_by_count_then_query_and_themes_by_count_then_label() -> None:
    themes = themes_of(WEEK)
    pay = theme_containing(themes, "day rate?")
    assert [(m.query, m.count) for m in pay.members] == [
        ("day rate?", 5),
        ("what's his hourly rate", 3),
        ("how much does he charge per day", 2),
    ]
    order = [(-t.count, t.theme) for t in themes]
    assert order == sorted(order)
    assert themes[0].theme == "day rate?" and themes[0].count == 10
    assert themes[1].theme == "does he know kubernetes" and themes[1].count == 8
    stored = pay.to_json()
    assert stored["members"][0] == {"query": "day rate?", "count": 5, "sessions": 5}


def test_repeated_query_counts_are_added() -> None:
    (theme,) = group_themes(["day rate?", "day rate?"], [2, 3])
    assert theme.count == 5 and len(theme.members) == 1


def test_deterministic_twice_and_whatever_the_input_order() -> None:
    unknown = [
        *UNRELATED,
        "could he fly a plane?",
        "is he able to fly a plane?",
        "tell me about his career path",
        "what is his career journey",
    ]
    week = dict(WEEK, **{query: 1 for query in unknown})
    first = themes_of(week)
    assert themes_of(week) == first
    items = list(week.items())
    for seed in range(5):
        random.Random(seed).shuffle(items)
        assert group_themes([q for q, _ in items], [c for _, c in items]) == first


def test_the_empty_input() -> None:
    assert group_themes([], []) == []
    assert recurrence([], [[], None]) == []


def test_unrelated_unknown_questions_are_not_one_catch_all_theme() -> None:
    assert all(question_key(query) == ("other", None) for query in UNRELATED)
    queries = [*UNRELATED, "anyone there?"]
    themes = group_themes(queries, [1] * len(queries))
    assert partition(themes) == {frozenset([query]) for query in queries}
    greeting = theme_containing(themes, "anyone there?")
    assert greeting.key == "other:greeting"
    for query in UNRELATED:
        assert theme_containing(themes, query).key == f"other:~{query}"


def test_strict_paraphrases_of_an_unknown_question_are_one_theme() -> None:
    assert 0.8 < PARAPHRASE_SIMILARITY < 1
    paraphrases = ["can he fly a plane?", "could he fly a plane?", "is he able to fly a plane?"]
    themes = group_themes([*paraphrases, *UNRELATED[1:]], [3, 1, 1] + [1] * 6)
    plane = theme_containing(themes, "can he fly a plane?")
    assert set(plane.queries) == set(paraphrases)
    assert plane.theme == "can he fly a plane?" and plane.count == 5
    assert plane.key == "other:~can he fly a plane?"
    assert "can he fly a helicopter?" not in plane.queries
    assert len(themes) == 1 + len(UNRELATED) - 1


def test_the_candidate_named_three_ways_is_one_theme() -> None:
    sam = Questions(Candidate("Sam"))
    asked = ["what are your skills?", "what are Sam's skills?", "what are his skills?"]
    (theme,) = group_themes(asked, [1, 2, 3], questions=sam)
    assert theme.key == "skills:overview" and theme.count == 6
    assert theme.theme == "what are his skills?"
    # a question no topic knows: the name folds too, so its paraphrases meet
    (plane,) = group_themes(["can you fly a plane?", "can Sam fly a plane?"], [1, 1], questions=sam)
    assert plane.key.startswith("other:~")
    apart = group_themes(["can you fly a plane?", "can Sam fly a plane?"], [1, 1])
    assert len(apart) == 2  # without the name, Sam is someone else


def test_themes_carry_their_key_and_store_it() -> None:
    themes = themes_of(WEEK)
    keys = {theme.theme: theme.key for theme in themes}
    assert keys["day rate?"] == "compensation:pay"
    assert keys["does he know kubernetes"] == "skills:kubernetes"
    assert keys["does he know fortran?"] == "skills:fortran"
    assert theme_containing(themes, "email me at [email] about a role").key == (
        "contact:left-details"
    )
    assert keys["tell me a joke"] == "other:~tell me a joke"
    assert len(set(keys.values())) == len(themes)
    for theme in themes:
        assert theme.key.partition(":")[0] == theme.intent
        stored = theme.to_json()
        assert stored["key"] == theme.key
        assert set(stored) == {"theme", "intent", "key", "count", "members"}


def test_sessions_decide_the_label_not_repetition() -> None:
    (theme,) = group_themes(["day rate?", "what's his hourly rate"], [50, 3], sessions=[1, 3])
    assert theme.theme == "what's his hourly rate" and theme.count == 53
    assert theme.members[0] == Member("what's his hourly rate", 3, 3)
    with pytest.raises(ValueError, match="differ in length"):
        group_themes(["day rate?"], [1, 2])
    with pytest.raises(ValueError, match="differ in length"):
        group_themes(["day rate?"], [1], sessions=[1, 1])


def test_the_model_loads_once_and_embeds_unit_vectors() -> None:
    assert load_model() is load_model()
    vectors = embed(["day rate?", ""])
    assert vectors.shape == (2, 256)
    assert abs(float((vectors[0] ** 2).sum()) - 1) < 1e-5
    assert float(abs(vectors[1]).sum()) == 0.0


def stored(*members: str) -> dict[str, object]:
    return {"theme": members[0], "members": [{"query": q, "count": 1} for q in members]}


def test_same_question_across_weeks_by_grouping_not_label() -> None:
    themes = group_themes(["day rate?", "does he know fortran?", "is he married"], [3, 1, 1])
    previous = [
        [stored("what's his hourly rate")],  # other words, same question
        None,  # no stored summary: skipped
        [stored("does he know react?"), stored("how much does he charge per day")],
        [stored("day rate?")],  # same label
        [],
    ]
    flags = dict(zip([t.theme for t in themes], recurrence(themes, previous), strict=True))
    assert flags["day rate?"].weeks_seen == 3 and not flags["day rate?"].new
    assert flags["does he know fortran?"].new and flags["does he know fortran?"].weeks_seen == 0
    assert flags["is he married"].new


def test_a_stored_label_alone_does_not_make_a_question_seen() -> None:
    themes = group_themes(["does he know fortran?"], [1])
    # the label equals this week's, but no member asks the question
    week = [{"theme": "does he know fortran?", "members": [{"query": "day rate?", "count": 1}]}]
    assert recurrence(themes, [week])[0].new


def test_unknown_topic_themes_recur_by_strict_paraphrase() -> None:
    themes = group_themes(["can he fly a plane?"], [2])
    assert themes[0].key == "other:~can he fly a plane?"
    assert recurrence(themes, [[stored("could he fly a plane?")]])[0].weeks_seen == 1
    assert recurrence(themes, [[stored("can he fly a helicopter?")]])[0].new
    assert recurrence(themes, [[stored("tell me a joke")], None, []])[0].new
    weeks = [[stored("is he able to fly a plane?")], [stored("can he fly a plane?")], None]
    assert recurrence(themes, weeks)[0].weeks_seen == 2


def test_recurrence_by_key_uses_the_reports_candidate() -> None:
    sam = Questions(Candidate("Sam"))
    themes = group_themes(["what are your skills?", "can you fly a plane?"], [1, 1], questions=sam)
    previous = [[stored("what are Sam's skills?")], [stored("can Sam fly a plane?")]]
    flags = recurrence(themes, previous, questions=sam)
    assert [flag.weeks_seen for flag in flags] == [1, 1]
    # a key is a key whatever words the stored week used
    week = [stored("how much does he charge per day", "k8s?")]
    flags = recurrence(themes_of(WEEK), [week, week])
    seen = {
        theme.theme: flag.weeks_seen for theme, flag in zip(themes_of(WEEK), flags, strict=True)
    }
    assert seen["day rate?"] == seen["does he know kubernetes"] == 2
    assert seen["does he know react?"] == 0
