"""Themes (report-insights.md, "Themes"): grouping, labels, ordering, cross-week judgement."""

from __future__ import annotations

import random

from tasks.core.embedding import embed, load_model
from tasks.core.intents import classify_intent
from tasks.core.themes import Theme, group_themes, question_key, recurrence

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
    residual = [
        "tell me about his career path",
        "what is his career journey",
        "summarise his background",
        "give me his cv overview",
    ]
    week = dict(WEEK, **{query: 1 for query in residual})
    first = themes_of(week)
    assert themes_of(week) == first
    items = list(week.items())
    for seed in range(5):
        random.Random(seed).shuffle(items)
        assert group_themes([q for q, _ in items], [c for _, c in items]) == first


def test_the_empty_input() -> None:
    assert group_themes([], []) == []
    assert recurrence([], [[], None]) == []


def test_unknown_questions_are_clustered_by_meaning_not_dropped() -> None:
    # experience questions the topic tables do not know: the embedding decides
    queries = ["tell me about his career path", "tell me about his career", "cv?"]
    assert all(question_key(q) == ("experience", None) for q in queries)
    themes = group_themes(queries, [1, 1, 1])
    career = theme_containing(themes, "tell me about his career")
    assert "tell me about his career path" in career.queries
    assert career.key.startswith("experience:~")


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


def test_residual_themes_recur_by_similarity() -> None:
    themes = group_themes(["tell me about his career"], [2])
    assert recurrence(themes, [[stored("tell me about his career path")]])[0].weeks_seen == 1
    assert recurrence(themes, [[stored("cv?")]])[0].new
