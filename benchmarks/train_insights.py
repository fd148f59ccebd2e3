"""``make train``: fit the topic model (tasks/core/topic_model.npz) from the labelled corpus.

The corpus is ``samples/corpus/train-*.json``: questions written for this project, each
file for one made-up candidate (``candidate``: name and aliases), ``topics`` mapping an
``intent:topic`` key of ``tasks/core/vocabulary.yaml`` to its questions. Every question
is folded as the report folds it (:class:`tasks.core.candidate.Candidate`), so "you",
the name and "he" train one form. A question that names its candidate is also kept once
with another person's name in its place, unfolded: a report whose candidate name is not
configured still sees the frame ("what did Jo do at Acme?").

scikit-learn fits it (deterministic: sorted input, lbfgs); what is saved is arrays only,
read by :mod:`tasks.core.topic_model` with numpy. ``tests/tasks/core/test_topic_model.py``
retrains and checks that the shipped file is what this script makes.

Usage: ``python -m benchmarks.train_insights [--check]`` (``--check``: fit, compare with
the shipped file, write nothing; exit 1 when they differ).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.core.candidate import Candidate
from tasks.core.topic_model import load, save
from tasks.core.vocabulary import MODEL_FILE, vocabulary

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "samples" / "corpus"

#: Analyzer settings (names, kinds, n-gram ranges, minimum document frequency).
ANALYZERS = (
    {"name": "word", "kind": "word", "low": 1, "high": 2, "min_df": 2},
    {"name": "char", "kind": "char_wb", "low": 2, "high": 4, "min_df": 3},
)
#: Scale of the embedding block against the l2-normed TF-IDF blocks.
EMBEDDING_WEIGHT = 1.0
#: Inverse regularisation strength of the logistic regression.
C = 10.0
#: Names put in place of a candidate's name for the unfolded copies.
OTHER_NAMES = ("Jo", "Maria Silva", "Kenji", "Olu Adeyemi", "Chris", "Ana", "Tom Becker")


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("train-*.json"))


def load_corpus(files: Sequence[Path] | None = None) -> list[tuple[str, str, Candidate]]:
    """``(question, topic, candidate)`` rows; a topic the vocabulary lacks is refused."""
    topics = set(vocabulary().topics)
    rows: list[tuple[str, str, Candidate]] = []
    for path in files or corpus_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        person = data["candidate"]
        candidate = Candidate(person["name"], tuple(person.get("aliases", ())))
        for topic, questions in data["topics"].items():
            if topic not in topics:
                raise SystemExit(f"{path.name}: topic {topic!r} is not in vocabulary.yaml")
            rows.extend((str(question), topic, candidate) for question in questions)
    return rows


def training_texts(rows: Sequence[tuple[str, str, Candidate]]) -> tuple[list[str], list[str]]:
    """Folded texts and labels, with the unfolded other-name copies; sorted, no duplicates."""
    pairs: set[tuple[str, str]] = set()
    for n, (question, topic, candidate) in enumerate(rows):
        pairs.add((candidate.fold(question), topic))
        names = sorted({candidate.name, *candidate.aliases}, key=len, reverse=True)
        pattern = re.compile(
            r"(?<![\w-])(?:" + "|".join(re.escape(name) for name in names) + r")(?![\w-])",
            re.IGNORECASE,
        )
        if pattern.search(question):
            other = OTHER_NAMES[n % len(OTHER_NAMES)]
            pairs.add((Candidate().fold(pattern.sub(other, question)), topic))
    ordered = sorted(pairs)
    return [text for text, _ in ordered], [topic for _, topic in ordered]


def vectorizer(spec: Mapping[str, Any]) -> TfidfVectorizer:
    """scikit-learn's TF-IDF vectorizer for one of :data:`ANALYZERS` (unfitted): what the
    numpy analyzers of :mod:`tasks.core.topic_model` reproduce."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer=spec["kind"],
        ngram_range=(spec["low"], spec["high"]),
        min_df=spec["min_df"],
        lowercase=True,
        dtype=np.float64,
    )


def fit(texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """The fitted model as the dict :func:`tasks.core.topic_model.save` writes."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    from tasks.core.embedding import embed

    blocks = []
    analyzers = []
    for spec in ANALYZERS:
        fitted = vectorizer(spec)
        blocks.append(fitted.fit_transform(texts))
        terms = sorted(fitted.vocabulary_, key=fitted.vocabulary_.__getitem__)
        analyzers.append({**spec, "vocabulary": terms, "idf": fitted.idf_})
    if EMBEDDING_WEIGHT:
        blocks.append(csr_matrix(embed(list(texts)).astype(np.float64) * EMBEDDING_WEIGHT))
    features = hstack(blocks).tocsr()
    model = LogisticRegression(C=C, max_iter=5000, tol=1e-6)
    model.fit(features, list(labels))
    meta = {
        "analyzers": [
            {key: spec[key] for key in ("name", "kind", "low", "high")} for spec in analyzers
        ],
        "embedding_weight": EMBEDDING_WEIGHT,
        "c": C,
        "training_questions": len(texts),
    }
    return {
        "classes": [str(name) for name in model.classes_],
        "coef": model.coef_.T,
        "intercept": model.intercept_,
        "analyzers": analyzers,
        "meta": meta,
    }


def same_model(path_a: Path, path_b: Path, probe: Sequence[str]) -> bool:
    """Two model files agree: classes, vocabularies, and probabilities on ``probe``."""
    a, b = load(path_a), load(path_b)
    if a.classes != b.classes or [x.index for x in a.analyzers] != [x.index for x in b.analyzers]:
        return False
    return bool(np.allclose(a.probabilities(probe), b.probabilities(probe), atol=1e-4))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped model")
    args = parser.parse_args(argv)
    texts, labels = training_texts(load_corpus())
    fitted = fit(texts, labels)
    if args.check:
        with tempfile.TemporaryDirectory() as folder:
            fresh = Path(folder) / "model.npz"
            save(fresh, fitted)
            ok = same_model(MODEL_FILE, fresh, texts)
        print(json.dumps({"reproduced": ok, "questions": len(texts)}))
        return 0 if ok else 1
    save(MODEL_FILE, fitted)
    print(
        json.dumps(
            {
                "written": str(MODEL_FILE.relative_to(ROOT)),
                "bytes": MODEL_FILE.stat().st_size,
                "questions": len(texts),
                "classes": len(fitted["classes"]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
