"""What a visitor asked: the intent and the question key of a display query. Pure.

A question key is ``(intent, topic)``; ``topic`` is ``None`` for a question no topic knows
(it is then grouped only with its strict paraphrases, :mod:`tasks.core.themes`). Decided
in this order (report-insights.md, "Intents" and "Themes"):

1. **Rules, where a rule is the honest tool**: a masked ``[email]``/``[phone]`` is
   ``contact:left-details`` (the visitor left details); a prompt injection is
   ``other:injection``; markup, SQL or a keyboard mash is ``other:abuse``; a named
   certification is
   ``education:certifications``.
2. **The learned topic model** (:mod:`tasks.core.topic_model`) on the folded question
   (:mod:`tasks.core.candidate`: "you", "Sam" and "he" are one person): the intent is the
   one whose topics hold the most probability, the topic the likeliest of that intent.
3. **Named technologies** (:mod:`tasks.core.vocabulary`'s spellings, plus the names the
   CV's own answers cited, ``sourcesUsed``): a question of ``skills`` or ``experience``
   that names one is ``skills`` keyed by what it names ("what did you build with
   kafka?" is ``skills:kafka``). A question about one technology the vocabulary does not
   know ("does he know zig") is keyed by the word it names.
4. A topic below :data:`TOPIC_CONFIDENCE`, or ``other:off-topic``, is no known topic.

Why a model and not cue tables, and what was measured: docs/insights-model.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np

from tasks.core.candidate import WORD, Candidate
from tasks.core.topic_model import TopicModel, topic_model
from tasks.core.vocabulary import Vocabulary, vocabulary

INTENTS = ("contact", "compensation", "availability", "skills", "experience", "education", "other")

MASKED = re.compile(r"\[(?:email|phone)\]")

#: Markup, SQL and keyboard mash typed into the chat: ``other:abuse`` whatever else they hold.
ABUSE = re.compile(
    r"<\s*/?\s*(?:script|img|iframe|svg|a|b|div|body|html)\b|onerror\s*=|javascript:"
    r"|\b(?:drop|truncate)\s+table\b|\bunion\s+select\b|\bselect\s+\*\s+from\b|'\s*;|;\s*--"
    r"|^(?:asdf\w*|qwer\w*|zxcv\w*|[a-z])$"
)
#: Prompt injection: ``other:injection`` whatever else it holds.
INJECTION = re.compile(
    r"\bignore\s+(?:all\s+|any\s+|the\s+|your\s+)?(?:previous\s+|prior\s+|above\s+)?"
    r"(?:instructions|prompts?|rules)\b|\b(?:system|your)\s+prompt\b|\bjailbreak"
)

CERTIFICATION = re.compile(
    r"\bcertif\w*|\bcerts?\b|\bcka\b|\bckad\b|\bpmp\b|\bcissp\b|\bprince2\b|\bitil\b"
    r"|\bcsm\b|\bpsm\b|\baccredit\w*"
)

#: Below this probability the model's topic is not trusted: the question stands alone.
TOPIC_CONFIDENCE = 0.2

#: Intents whose question becomes ``skills`` when it names a technology.
_TECH_WINS_OVER = frozenset({"skills", "experience"})
#: A question of at most this many words besides the technology it names ("k8s?", "any
#: fortran?", "rust experience?") is about that technology, whatever the model says.
_FRAGMENT_WORDS = 2
_WORD = re.compile(r"[\w#+]+")
#: Neighbours that make an ambiguous spelling a technology outside a skills question.
_TECH_BEFORE = re.compile(r"\b(?:in|with|of|using|used)\s+$")
_TECH_AFTER = re.compile(
    r"\s+(?:work|experience|skills?|code|projects?|developer|development|programming)\b"
)

#: Longest extra technology name (from ``sourcesUsed``) and how many are taken.
MAX_EXTRA_NAME = 60
MAX_EXTRA = 500

#: "does candidate know X" for an X the vocabulary does not know.
_UNKNOWN_TECH = re.compile(
    rf"(?:\b{WORD}\s+(?:know|knows|use|uses|used|code|codes|coded|program|programs|write"
    r"|writes|wrote|speak|speaks)\s+(?:in\s+)?"
    r"|\b(?:experience|experienced|skilled|proficient|familiar|good|expert|worked|work|"
    r"working|background)\s+(?:with|in|at|on)\s+"
    r"|\b(?:any|how\s+much|years\s+of|level\s+of|knowledge\s+of)\s+)"
    r"([a-z][a-z0-9#+.\-]{0,24})\s*[?.!]*\s*$"
)


def _spelling_pattern(spellings: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted(spellings, key=len, reverse=True)
    alternatives = "|".join(re.escape(spelling) for spelling in ordered)
    return re.compile(rf"(?<![\w#+.])(?:{alternatives})(?![\w#+]|\.\w)")


def _source_spellings(names: Iterable[str], known: Vocabulary) -> dict[str, str]:
    """``sourcesUsed`` names as extra technologies: spelling -> key (bounded, masked names)."""
    extra: dict[str, str] = {}
    for raw in names:
        spelling = " ".join(str(raw).lower().split())
        if not 2 <= len(spelling) <= MAX_EXTRA_NAME or spelling in known.spellings:
            continue
        if "[" in spelling:  # a masked name says nothing about a technology
            continue
        extra[spelling] = re.sub(r"[^a-z0-9#+.]+", "-", spelling).strip("-") or spelling
        if len(extra) >= MAX_EXTRA:
            break
    return extra


class Questions:
    """Question keys for one report: the vocabulary, the model, the candidate, the CV's
    own technology names. Keys are cached per display query (one week's queries)."""

    def __init__(
        self,
        candidate: Candidate | None = None,
        sources: Iterable[str] = (),
        known: Vocabulary | None = None,
        model: TopicModel | None = None,
    ) -> None:
        self.candidate = candidate or Candidate()
        self.vocabulary = known or vocabulary()
        self._model = model
        spellings = dict(self.vocabulary.spellings)
        spellings.update(_source_spellings(sources, self.vocabulary))
        self._owner = spellings
        self._pattern = _spelling_pattern(spellings)
        self._keys: dict[str, tuple[str, str | None]] = {}
        topics = list(self.vocabulary.topics)
        self._intent_rows = {
            intent: [i for i, key in enumerate(topics) if key.partition(":")[0] == intent]
            for intent in INTENTS
        }

    @property
    def model(self) -> TopicModel:
        if self._model is None:
            self._model = topic_model()
        return self._model

    def technologies(self, folded: str, skills: bool) -> tuple[str, ...]:
        """The technology keys a folded question names. An ambiguous spelling ("go",
        "swift") counts in a question about skills, or where its neighbours make it one
        ("his go work", "experience with go")."""
        found = set()
        for match in self._pattern.finditer(folded):
            spelling = match.group(0)
            if (
                skills
                or spelling not in self.vocabulary.ambiguous
                or _TECH_BEFORE.search(folded, 0, match.start())
                or _TECH_AFTER.match(folded, match.end())
            ):
                found.add(self._owner[spelling])
        return tuple(sorted(found))

    def keys(self, queries: Sequence[str]) -> list[tuple[str, str | None]]:
        """The question key of every query (computed once per distinct query)."""
        todo = sorted({query for query in queries if query not in self._keys})
        ruled = [query for query in todo if self._rule(query) is None]
        for query in todo:
            rule = self._rule(query)
            if rule is not None:
                self._keys[query] = rule
        if ruled:
            folded = [self.candidate.fold(query) for query in ruled]
            probabilities = self.model.probabilities(folded)
            for query, text, row in zip(ruled, folded, probabilities, strict=True):
                self._keys[query] = self._from_model(text, row)
        return [self._keys[query] for query in queries]

    def key(self, query: str) -> tuple[str, str | None]:
        return self.keys([query])[0]

    def intent(self, query: str) -> str:
        return self.key(query)[0]

    @staticmethod
    def _rule(query: str) -> tuple[str, str | None] | None:
        if MASKED.search(query):
            return "contact", "left-details"
        lowered = query.lower().strip()
        if INJECTION.search(lowered):
            return "other", "injection"
        if ABUSE.search(lowered):
            return "other", "abuse"
        if CERTIFICATION.search(lowered):
            return "education", "certifications"
        return None

    def _fragment(self, folded: str) -> bool:
        """Only a few words besides the technologies named: a question about them."""
        rest = self._pattern.sub(" ", folded)
        return len(_WORD.findall(rest)) <= _FRAGMENT_WORDS

    def _from_model(self, folded: str, row: np.ndarray) -> tuple[str, str | None]:
        classes = self.model.classes
        by_intent = {intent: 0.0 for intent in INTENTS}
        for name, probability in zip(classes, row, strict=True):
            by_intent[name.partition(":")[0]] += float(probability)
        intent = max(INTENTS, key=lambda name: (by_intent[name], -INTENTS.index(name)))
        candidates = [i for i, name in enumerate(classes) if name.startswith(intent + ":")]
        best = max(candidates, key=lambda i: (float(row[i]), -i))
        topic = classes[best].partition(":")[2]
        named = self.technologies(folded, skills=intent == "skills")
        if named and (intent in _TECH_WINS_OVER or self._fragment(folded)):
            return "skills", "+".join(named)
        if intent == "skills" and topic in {"tech", "spoken-languages"}:
            unknown = _UNKNOWN_TECH.search(folded)
            if unknown and unknown.group(1).rstrip(".") not in self.vocabulary.not_technologies:
                return "skills", unknown.group(1).rstrip(".")
            if topic == "tech":
                return "skills", None
        if topic == "off-topic" or float(row[best]) < TOPIC_CONFIDENCE:
            return intent, None
        return intent, topic


@cache
def default_questions() -> Questions:
    """Keys without a configured candidate or CV names (tests, benchmarks, ``eval``)."""
    return Questions()


def classify_intent(query: str, questions: Questions | None = None) -> str:
    """The intent of one display query."""
    return (questions or default_questions()).intent(query)
