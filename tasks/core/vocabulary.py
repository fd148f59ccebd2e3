"""The insights' vocabulary: topics, suggestions, technologies and languages. Pure.

The data lives in ``vocabulary.yaml`` beside this module (what a topic means, the advice it
gives the owner, the spellings of the technologies the report names). :func:`vocabulary`
reads and validates it once per process: an unknown key, a key given twice, a topic of an
unknown intent or without a suggestion, or one spelling claimed by two technologies is
refused with a :class:`VocabularyError` that names the place. Nothing else reads the file.

:attr:`Vocabulary.version` goes into every stored weekly summary: the file's ``version``
and a digest of the file and of the fitted topic model, so that a summary says which
vocabulary grouped it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

HERE = Path(__file__).resolve().parent
VOCABULARY_FILE = HERE / "vocabulary.yaml"
MODEL_FILE = HERE / "topic_model.npz"

_TOPIC_KEY = re.compile(r"^[a-z]+:[a-z][a-z0-9-]*$")
_TECH_KEY = re.compile(r"^[a-z0-9][a-z0-9+#.-]*$")


class VocabularyError(ValueError):
    """The vocabulary file is not what the code needs; the message names the place."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicEntry(_Strict):
    means: str = Field(min_length=3)
    suggestion: str = Field(min_length=3)


class NamedEntry(_Strict):
    name: str = Field(min_length=1)
    spellings: list[str] = Field(min_length=1)
    ambiguous: list[str] = Field(default_factory=list)

    @field_validator("spellings", "ambiguous")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        for value in values:
            if value != value.strip().lower() or not value:
                raise ValueError(f"spelling {value!r} must be lower case, trimmed, non-empty")
        return values


class VocabularyFile(_Strict):
    version: int = Field(ge=1)
    intents: list[str] = Field(min_length=1)
    topics: dict[str, TopicEntry]
    unknown_topic_suggestions: dict[str, str]
    not_technologies: list[str] = Field(default_factory=list)
    languages: dict[str, NamedEntry]
    technologies: dict[str, NamedEntry]


@dataclass(frozen=True)
class Vocabulary:
    """The validated vocabulary, in the shapes the classifiers read."""

    version: str
    intents: tuple[str, ...]
    #: ``intent:topic`` -> what it means / its sentence of advice, in the file's order.
    topics: Mapping[str, TopicEntry]
    unknown_topic_suggestions: Mapping[str, str]
    #: technology key -> display name; language key -> display name.
    technology_names: Mapping[str, str]
    language_names: Mapping[str, str]
    #: spelling -> technology key (``language:<key>`` for a spoken language).
    spellings: Mapping[str, str]
    #: spellings that count only in a question about skills ("go", "swift").
    ambiguous: frozenset[str]
    #: words after "does he know" that are not technologies ("the", "people").
    not_technologies: frozenset[str]

    def intent_of(self, topic_key: str) -> str:
        return topic_key.partition(":")[0]

    def suggestion(self, topic_key: str) -> str | None:
        entry = self.topics.get(topic_key)
        return None if entry is None else entry.suggestion

    def display_name(self, technology: str) -> str:
        """How a technology key reads in a sentence; an unknown one as the visitor named it."""
        if technology.startswith("language:"):
            key = technology.removeprefix("language:")
            return self.language_names.get(key, key.capitalize())
        return self.technology_names.get(technology, technology)

    def knows(self, technology: str) -> bool:
        if technology.startswith("language:"):
            return technology.removeprefix("language:") in self.language_names
        return technology in self.technology_names


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping key given twice (PyYAML keeps the last)."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise VocabularyError(f"{key!r} is given twice (line {mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def _check_topics(data: VocabularyFile) -> None:
    intents = set(data.intents)
    if len(intents) != len(data.intents):
        raise VocabularyError("intents: an intent is listed twice")
    for key in data.topics:
        if not _TOPIC_KEY.match(key):
            raise VocabularyError(f"topics: {key!r} is not 'intent:topic' in lower case")
        if key.partition(":")[0] not in intents:
            raise VocabularyError(f"topics: {key!r} names an intent not in 'intents'")
    missing = intents - {key.partition(":")[0] for key in data.topics}
    if missing:
        raise VocabularyError(f"topics: no topic for the intents {sorted(missing)}")
    if set(data.unknown_topic_suggestions) != intents:
        raise VocabularyError("unknown_topic_suggestions: needs exactly one entry per intent")


def _spellings(
    groups: Iterable[tuple[str, Mapping[str, NamedEntry]]],
) -> tuple[dict[str, str], frozenset[str]]:
    owner: dict[str, str] = {}
    ambiguous: set[str] = set()
    for prefix, entries in groups:
        for key, entry in entries.items():
            if not _TECH_KEY.match(key):
                raise VocabularyError(f"{key!r}: a key is lower-case letters, digits, -+#.")
            for spelling in entry.spellings:
                if spelling in owner:
                    raise VocabularyError(
                        f"spelling {spelling!r} names both {owner[spelling]!r} and {prefix + key!r}"
                    )
                owner[spelling] = prefix + key
            unknown = set(entry.ambiguous) - set(entry.spellings)
            if unknown:
                raise VocabularyError(f"{key!r}: ambiguous {sorted(unknown)} not in its spellings")
            ambiguous.update(entry.ambiguous)
    return owner, frozenset(ambiguous)


def parse(text: str, model_bytes: bytes = b"") -> Vocabulary:
    """A :class:`Vocabulary` from the YAML text (and the model file's bytes, for the version)."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  # nosec B506: a SafeLoader subclass
        data = VocabularyFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        place = ".".join(str(part) for part in first["loc"]) or "the document"
        raise VocabularyError(f"{place}: {first['msg']}") from None
    except VocabularyError:
        raise
    except yaml.YAMLError as error:
        raise VocabularyError(f"not valid YAML: {error}") from None
    except (TypeError, ValueError, IndexError, RecursionError) as error:
        # PyYAML's constructors raise these for an unhashable key, a bad !!int or
        # !!timestamp, an empty tag value, or nesting deeper than the interpreter allows.
        raise VocabularyError(f"not valid YAML: {type(error).__name__}") from None
    _check_topics(data)
    spellings, ambiguous = _spellings(
        [("language:", data.languages), ("", data.technologies)],
    )
    digest = hashlib.sha256(text.encode("utf-8") + model_bytes).hexdigest()[:10]
    return Vocabulary(
        version=f"{data.version}.{digest}",
        intents=tuple(data.intents),
        topics=dict(data.topics),
        unknown_topic_suggestions=dict(data.unknown_topic_suggestions),
        technology_names={key: entry.name for key, entry in data.technologies.items()},
        language_names={key: entry.name for key, entry in data.languages.items()},
        spellings=spellings,
        ambiguous=ambiguous,
        not_technologies=frozenset(data.not_technologies),
    )


@cache
def vocabulary() -> Vocabulary:
    """The shipped vocabulary, loaded and validated once per process."""
    model = MODEL_FILE.read_bytes() if MODEL_FILE.exists() else b""
    return parse(VOCABULARY_FILE.read_text(encoding="utf-8"), model)
