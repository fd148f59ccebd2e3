"""The insights' vocabulary (tasks/core/vocabulary.yaml): the shipped file loads, and every
way of getting it wrong is refused with a VocabularyError that names the place."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from tasks.core.intents import INTENTS
from tasks.core.vocabulary import VOCABULARY_FILE, Vocabulary, VocabularyError, parse, vocabulary


def small() -> dict[str, Any]:
    """A minimal valid vocabulary, as data: tests change one thing and dump it."""
    return {
        "version": 1,
        "intents": ["skills", "other"],
        "topics": {
            "skills:tech": {"means": "a named technology", "suggestion": "State your level."},
            "skills:overview": {"means": "skills in general", "suggestion": "List skills."},
            "other:greeting": {"means": "hello there", "suggestion": "No change."},
        },
        "unknown_topic_suggestions": {"skills": "Say more.", "other": "Leave it."},
        "languages": {"german": {"name": "German", "spellings": ["german", "deutsch"]}},
        "technologies": {
            "python": {"name": "Python", "spellings": ["python", "py"]},
            "go": {"name": "Go", "spellings": ["go", "golang"], "ambiguous": ["go"]},
        },
    }


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


SMALL = dump(small())


def refused(data: dict[str, Any] | str) -> str:
    """The message of the VocabularyError that parsing ``data`` raises."""
    with pytest.raises(VocabularyError) as caught:
        parse(data if isinstance(data, str) else dump(data))
    return str(caught.value)


# -- the shipped file ------------------------------------------------------------------


def test_the_shipped_file_loads_once() -> None:
    shipped = vocabulary()
    assert isinstance(shipped, Vocabulary)
    assert vocabulary() is shipped
    assert shipped.version.startswith(f"{yaml.safe_load(VOCABULARY_FILE.read_text())['version']}.")
    assert shipped.spellings["k8s"] == shipped.spellings["kubernetes"] == "kubernetes"
    assert shipped.spellings["deutsch"] == "language:german"
    assert {"go", "swift", "c"} <= shipped.ambiguous


def test_the_shipped_intents_are_the_classifiers_and_each_has_topics() -> None:
    shipped = vocabulary()
    assert shipped.intents == INTENTS
    for intent in INTENTS:
        assert [key for key in shipped.topics if shipped.intent_of(key) == intent], intent
        assert shipped.unknown_topic_suggestions[intent].strip()


def test_every_shipped_topic_has_a_suggestion() -> None:
    shipped = vocabulary()
    assert len(shipped.topics) > 40
    for key, entry in shipped.topics.items():
        assert shipped.suggestion(key) == entry.suggestion
        assert len(entry.suggestion.strip()) >= 3, key
        assert entry.means.strip(), key
    assert shipped.suggestion("skills:no-such-topic") is None


def test_display_names_and_knowing() -> None:
    shipped = vocabulary()
    assert shipped.display_name("csharp") == "C#"
    assert shipped.display_name("language:german") == "German"
    assert shipped.display_name("language:klingon") == "Klingon"
    assert shipped.display_name("nim") == "nim"  # an unknown one, as the visitor named it
    assert shipped.knows("kubernetes") and shipped.knows("language:japanese")
    assert not shipped.knows("nim") and not shipped.knows("language:klingon")


# -- the small file, and what is refused -----------------------------------------------


def test_the_small_file_parses() -> None:
    parsed = parse(SMALL)
    assert parsed.intents == ("skills", "other")
    assert parsed.spellings == {
        "german": "language:german",
        "deutsch": "language:german",
        "python": "python",
        "py": "python",
        "go": "go",
        "golang": "go",
    }
    assert parsed.ambiguous == frozenset({"go"})
    assert parsed.version.startswith("1.")


@pytest.mark.parametrize(
    ("where", "place"),
    [
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["topics"]["skills:tech"].update(colour="blue"), "topics.skills:tech.colour"),
        (lambda d: d["technologies"]["python"].update(logo="py.png"), "technologies.python.logo"),
    ],
)
def test_an_unknown_key_is_refused_by_its_place(where: Any, place: str) -> None:
    data = small()
    where(data)
    message = refused(data)
    assert message.startswith(f"{place}:")
    assert "Extra inputs" in message


def test_a_key_given_twice_is_refused_with_its_line() -> None:
    text = SMALL.replace("technologies:\n", "technologies:\n  py2: {name: Py, spellings: [py2]}\n")
    assert parse(text).spellings["py2"] == "py2"  # the edit itself is valid
    twice = SMALL.replace(
        "technologies:\n", "technologies:\n  python: {name: Py, spellings: [py2]}\n"
    )
    message = refused(twice)
    assert "'python' is given twice" in message
    line = twice.splitlines().index("  python:") + 1
    assert f"(line {line})" in message
    # top level too (PyYAML alone would keep the last)
    assert "'version' is given twice (line 2)" in refused("version: 1\nversion: 2\n")


def test_a_topic_of_an_unknown_intent_is_refused() -> None:
    data = small()
    data["topics"]["sales:pitch"] = {"means": "selling", "suggestion": "Sell it."}
    message = refused(data)
    assert "'sales:pitch'" in message and "intent not in 'intents'" in message


def test_an_intent_without_topics_is_refused() -> None:
    data = small()
    data["intents"].append("education")
    data["unknown_topic_suggestions"]["education"] = "Say where you studied."
    assert "no topic for the intents ['education']" in refused(data)


def test_a_topic_without_a_suggestion_is_refused() -> None:
    data = small()
    del data["topics"]["skills:overview"]["suggestion"]
    message = refused(data)
    assert message.startswith("topics.skills:overview.suggestion:")
    assert "Field required" in message
    data = small()
    data["topics"]["skills:overview"]["suggestion"] = ""
    assert refused(data).startswith("topics.skills:overview.suggestion:")


def test_one_spelling_for_two_technologies_is_refused() -> None:
    data = small()
    data["technologies"]["pypy"] = {"name": "PyPy", "spellings": ["pypy", "py"]}
    assert "spelling 'py' names both 'python' and 'pypy'" in refused(data)
    # a spoken language and a technology cannot share one either
    data = small()
    data["technologies"]["deutsch-db"] = {"name": "DeutschDB", "spellings": ["deutsch"]}
    assert "spelling 'deutsch' names both 'language:german' and 'deutsch-db'" in refused(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["intents"].append("skills"), "intents: an intent is listed twice"),
        (
            lambda d: d["topics"].update({"Skills:Tech": {"means": "abc", "suggestion": "abc"}}),
            "'Skills:Tech' is not 'intent:topic'",
        ),
        (
            lambda d: d["unknown_topic_suggestions"].pop("other"),
            "unknown_topic_suggestions: needs exactly one entry per intent",
        ),
        (
            lambda d: d["technologies"]["go"].update(ambiguous=["gopher"]),
            "'go': ambiguous ['gopher'] not in its spellings",
        ),
        (
            lambda d: d["technologies"].update({"Bad Key": {"name": "X", "spellings": ["x"]}}),
            "'Bad Key': a key is lower-case",
        ),
        (
            lambda d: d["technologies"]["python"].update(spellings=["Python"]),
            "technologies.python.spellings:",
        ),
        (lambda d: d["technologies"]["python"].update(spellings=[]), "technologies.python"),
        (lambda d: d.update(version=0), "version:"),
        (lambda d: d.pop("languages"), "languages: Field required"),
    ],
)
def test_other_mistakes_are_refused_with_their_place(change: Any, expected: str) -> None:
    data = small()
    change(data)
    assert expected in refused(data)


@pytest.mark.parametrize(
    "text", ["", "null", "- 1\n- 2", "just words", "a: b: c", "\t", "\x00", "&a {x: *a}"]
)
def test_text_that_is_no_vocabulary_is_refused(text: str) -> None:
    refused(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("? [a, b]\n: c\n", id="unhashable-key"),
        pytest.param("version: 2025-13-45\n", id="impossible-date"),
        pytest.param("version: !!int abc\n", id="bad-int-tag"),
        pytest.param("version: !!float x\n", id="bad-float-tag"),
        pytest.param("!!int \n", id="empty-int-tag"),
        pytest.param("a: " + "[" * 5000 + "]" * 5000 + "\n", id="deep-nesting"),
    ],
)
def test_yaml_the_constructor_chokes_on_is_still_a_vocabulary_error(text: str) -> None:
    refused(text)


def test_the_version_follows_the_text_and_the_model() -> None:
    first = parse(SMALL)
    assert parse(SMALL).version == first.version  # the same text, the same version
    assert parse(SMALL + "# a comment\n").version != first.version
    assert parse(SMALL, b"model one").version != parse(SMALL, b"model two").version
    data = small()
    data["version"] = 7
    assert parse(dump(data)).version.startswith("7.")


# -- arbitrary text ----------------------------------------------------------------------

_YAMLISH = st.sampled_from(
    [
        "version: ",
        "1",
        "intents: ",
        "topics:",
        "skills:tech:",
        "means: ",
        "suggestion: ",
        "technologies:",
        "spellings: ",
        "ambiguous: ",
        "\n",
        "  ",
        "\t",
        "[",
        "]",
        "{",
        "}",
        ",",
        ": ",
        "- ",
        "? ",
        "&a ",
        "*a",
        "!!int ",
        "!!float ",
        "!!binary ",
        "!!set ",
        "!!python/object:os.system ",
        "2025-13-45",
        "'",
        '"',
        "#",
        "|",
        ">",
        "~",
        ".nan",
        "é",
        "\x00",
    ]
)
_GARBAGE = st.one_of(
    st.text(max_size=300),
    st.lists(_YAMLISH, max_size=40).map("".join),
    # the small valid file with a slice replaced by garbage
    st.tuples(
        st.integers(0, len(SMALL)),
        st.integers(0, 40),
        st.lists(_YAMLISH | st.text(max_size=5), max_size=6).map("".join),
    ).map(lambda cut: SMALL[: cut[0]] + cut[2] + SMALL[cut[0] + cut[1] :]),
)


@given(_GARBAGE)
@example("? [a, b]\n: c\n")
@example("version: 2025-13-45\n")
def test_garbage_is_parsed_or_refused_never_another_exception(text: str) -> None:
    try:
        parsed = parse(text)
    except VocabularyError as error:
        assert str(error)
    else:
        assert isinstance(parsed, Vocabulary)
