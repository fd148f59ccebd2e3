"""The learned part of the insights: a question's topic, from a small linear model. Pure.

A multinomial logistic regression over three kinds of features of the folded question
(:mod:`tasks.core.candidate`): TF-IDF of word 1-2-grams, TF-IDF of character 2-4-grams
within word boundaries (typos and inflections still share most of them), and the static
WordLlama embedding (:mod:`tasks.core.embedding`), scaled. It is trained by
``benchmarks/train_insights.py`` with scikit-learn on the project's own labelled corpus
(``samples/corpus/``) and shipped as ``topic_model.npz``: the vocabularies, the IDF
weights and the coefficients. Inference here is numpy only: importing scikit-learn takes
over 2 s, the whole of this model loads in a fraction of that. The analyzers below
reproduce scikit-learn's ``TfidfVectorizer`` (``analyzer="word"``, ``"char_wb"``, l2 norm)
exactly; a test compares them on the corpus.

Deterministic: the same text gives the same probabilities in every process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tasks.core.vocabulary import MODEL_FILE

#: scikit-learn's default ``token_pattern``.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WHITE_SPACES = re.compile(r"\s\s+")
#: Questions scored per block, so a week of distinct questions never builds one huge matrix.
_BLOCK = 2048


def word_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's word analyzer (lower case, ``token_pattern``, n-grams low..high)."""
    tokens = _TOKEN.findall(text.lower())
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's ``char_wb`` analyzer: character n-grams inside padded words."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            offset = 0
            grams.append(padded[offset : offset + n])
            while offset + n < length:
                offset += 1
                grams.append(padded[offset : offset + n])
            if offset == 0:
                break
    return grams


@dataclass(frozen=True)
class _Analyzer:
    kind: str
    low: int
    high: int
    index: dict[str, int]
    idf: np.ndarray
    offset: int

    def grams(self, text: str) -> list[str]:
        if self.kind == "word":
            return word_ngrams(text, self.low, self.high)
        return char_wb_ngrams(text, self.low, self.high)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices (offset into the whole feature space) and l2-normed TF-IDF values."""
        counts: dict[int, int] = {}
        for gram in self.grams(text):
            column = self.index.get(gram)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values *= self.idf[columns]
        values /= np.sqrt(np.dot(values, values))
        return columns + self.offset, values


@dataclass(frozen=True)
class TopicModel:
    """The fitted model: classes (``intent:topic`` keys) and what scores them."""

    classes: tuple[str, ...]
    analyzers: tuple[_Analyzer, ...]
    #: (features + embedding dims) x classes.
    coef: np.ndarray
    intercept: np.ndarray
    embedding_weight: float
    meta: dict[str, Any]

    def probabilities(self, folded: Sequence[str]) -> np.ndarray:
        """Per folded question, the probability of each class (rows sum to 1)."""
        from tasks.core.embedding import embed

        out = np.empty((len(folded), len(self.classes)), dtype=np.float64)
        sparse_width = self._sparse_width
        for start in range(0, len(folded), _BLOCK):
            block = list(folded[start : start + _BLOCK])
            scores = np.tile(self.intercept, (len(block), 1))
            if self.embedding_weight:
                vectors = embed(block).astype(np.float64) * self.embedding_weight
                scores += vectors @ self.coef[sparse_width:]
            for row, text in enumerate(block):
                for analyzer in self.analyzers:
                    columns, values = analyzer.features(text)
                    if len(columns):
                        scores[row] += values @ self.coef[columns]
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=1, keepdims=True)
            out[start : start + len(block)] = scores
        return out

    @property
    def _sparse_width(self) -> int:
        return sum(len(analyzer.idf) for analyzer in self.analyzers)


def save(path: Path, model: dict[str, Any]) -> None:
    """Write a fitted model (the training script's dict) as a compressed ``.npz``."""
    arrays: dict[str, Any] = {
        "classes": np.array(model["classes"], dtype=np.str_),
        # Half precision: a coefficient needs three significant digits, the file half the bytes.
        "coef": np.asarray(model["coef"], dtype=np.float16),
        "intercept": np.asarray(model["intercept"], dtype=np.float32),
        "meta": np.array(json.dumps(model["meta"], sort_keys=True), dtype=np.str_),
    }
    for analyzer in model["analyzers"]:
        name = analyzer["name"]
        arrays[f"{name}_vocabulary"] = np.array(analyzer["vocabulary"], dtype=np.str_)
        arrays[f"{name}_idf"] = np.asarray(analyzer["idf"], dtype=np.float64)
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


def load(path: Path) -> TopicModel:
    """Read a model written by :func:`save`; a missing file raises (nothing is downloaded)."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        analyzers = []
        offset = 0
        for spec in meta["analyzers"]:
            vocabulary = [str(term) for term in data[f"{spec['name']}_vocabulary"]]
            idf = np.asarray(data[f"{spec['name']}_idf"], dtype=np.float64)
            analyzers.append(
                _Analyzer(
                    kind=spec["kind"],
                    low=int(spec["low"]),
                    high=int(spec["high"]),
                    index={term: i for i, term in enumerate(vocabulary)},
                    idf=idf,
                    offset=offset,
                )
            )
            offset += len(vocabulary)
        return TopicModel(
            classes=tuple(str(name) for name in data["classes"]),
            analyzers=tuple(analyzers),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=np.asarray(data["intercept"], dtype=np.float64),
            embedding_weight=float(meta["embedding_weight"]),
            meta=meta,
        )


@cache
def topic_model() -> TopicModel:
    """The shipped model, loaded once per process."""
    return load(MODEL_FILE)
