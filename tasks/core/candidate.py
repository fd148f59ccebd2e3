"""The candidate is one person however a visitor names them. Pure.

The chatbot speaks as the candidate, so visitors write "what are your skills?", "what are
Sam's skills?" and "what are his skills?" for one question. :meth:`Candidate.fold` turns
every way of naming the candidate (second person, third person, the name and its aliases,
possessives) into the one word ``candidate``, and the verb that goes with it into the third
person ("are you" and "is he" both become "is candidate"), before intents and themes are
decided. Other people's names are left alone.

The name and aliases come from the settings (``CV_ANALYTICS_CANDIDATE_NAME``,
``CV_ANALYTICS_CANDIDATE_ALIASES``); the first word of the name is an alias by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

#: The word every naming of the candidate becomes.
WORD = "candidate"

#: Longest name or alias accepted (a setting, but bounded like every input).
MAX_NAME = 100
MAX_ALIASES = 20

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})

# Contractions first (their verb becomes third person), then the plain pronouns.
_CONTRACTIONS = (
    (r"(?:you|u|they)\s*'?re\b", f"{WORD} is"),
    (r"(?:he|she)\s*'re\b", f"{WORD} is"),
    (r"(?:you|u|they)\s*'ve\b", f"{WORD} has"),
    (r"(?:you|he|she|they)\s*'d\b", f"{WORD} would"),
    (r"(?:you|he|she|they)\s*'ll\b", f"{WORD} will"),
    (r"(?:he|she)\s*'s\b", f"{WORD} is"),
)
_PRONOUNS = (
    r"yourself|yourselves|yours|your|you|ur|u|ya"
    r"|himself|him|his|he|herself|hers|her|she"
    r"|themselves|themself|theirs|their|them|they"
    r"|the candidate|this candidate|the applicant|this applicant"
)
# After folding, the verb agrees with a third-person singular subject.
_AGREEMENT = (
    (rf"\bare {WORD}\b", f"is {WORD}"),
    (rf"\bwere {WORD}\b", f"was {WORD}"),
    (rf"\bdo {WORD}\b", f"does {WORD}"),
    (rf"\bhave {WORD}\b", f"has {WORD}"),
    (rf"\b{WORD} are\b", f"{WORD} is"),
    (rf"\b{WORD} were\b", f"{WORD} was"),
    (rf"\b{WORD} have\b", f"{WORD} has"),
    (rf"\b{WORD} do\b", f"{WORD} does"),
    (rf"\b{WORD}(?: {WORD})+\b", WORD),
)
_SPACES = re.compile(r"\s+")
#: Folding passes at most: a second pass settles what the first made ("the you").
_PASSES = 3


def _compiled(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(rf"(?<![\w'-]){pattern}"), repl) for pattern, repl in pairs)


_CONTRACTION_PATTERNS = _compiled(_CONTRACTIONS)
_PRONOUN_PATTERN = re.compile(rf"(?<![\w'-])(?:{_PRONOUNS})(?![\w-])(?:'s)?")
_AGREEMENT_PATTERNS = tuple((re.compile(pattern), repl) for pattern, repl in _AGREEMENT)


def _names(name: str, aliases: tuple[str, ...]) -> list[str]:
    forms = {" ".join(form.translate(_APOSTROPHES).lower().split()) for form in (name, *aliases)}
    first = name.strip().split()
    if first:
        forms.add(first[0].lower())
    return sorted((form for form in forms if len(form) >= 2), key=len, reverse=True)


@dataclass(frozen=True)
class Candidate:
    """Who the chatbot speaks for: a display name and the other names visitors use."""

    name: str = ""
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.name) > MAX_NAME or any(len(alias) > MAX_NAME for alias in self.aliases):
            raise ValueError(f"a candidate name or alias is at most {MAX_NAME} characters")
        if len(self.aliases) > MAX_ALIASES:
            raise ValueError(f"at most {MAX_ALIASES} candidate aliases")

    @cached_property
    def _name_pattern(self) -> re.Pattern[str] | None:
        names = _names(self.name, self.aliases)
        if not names:
            return None
        spelled = "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in names)
        return re.compile(rf"(?<![\w-])(?:{spelled})(?:'s|s'|')?(?![\w-])")

    def fold(self, text: str) -> str:
        """``text`` in lower case, single-spaced, with the candidate named one way
        (:data:`WORD`). Idempotent: folding a folded text changes nothing."""
        folded = _SPACES.sub(" ", text.translate(_APOSTROPHES).lower()).strip()
        for _ in range(_PASSES):
            before = folded
            folded = self._fold_once(folded)
            if folded == before:
                break
        return folded

    def _fold_once(self, folded: str) -> str:
        if self._name_pattern is not None:
            folded = self._name_pattern.sub(WORD, folded)
        for pattern, replacement in _CONTRACTION_PATTERNS:
            folded = pattern.sub(replacement, folded)
        folded = _PRONOUN_PATTERN.sub(WORD, folded)
        for pattern, replacement in _AGREEMENT_PATTERNS:
            folded = pattern.sub(replacement, folded)
        return _SPACES.sub(" ", folded).strip()
