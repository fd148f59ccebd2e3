"""The topic model's numpy inference (tasks/core/topic_model.py) is scikit-learn's, the
shipped file loads without pickle, and retraining reproduces it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from benchmarks.train_insights import ANALYZERS, load_corpus, training_texts, vectorizer
from tasks.core import topic_model as tm
from tasks.core.embedding import embed
from tasks.core.topic_model import (
    TopicModel,
    char_wb_ngrams,
    load,
    save,
    topic_model,
    word_ngrams,
)
from tasks.core.vocabulary import MODEL_FILE, vocabulary


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """The corpus questions as written, and folded as the model is trained on them."""
    texts, _ = training_texts(load_corpus())
    raw = sorted({question for question, _, _ in load_corpus()})
    return raw + texts


@pytest.fixture(scope="module")
def fitted() -> list[TfidfVectorizer]:
    """scikit-learn's vectorizers, fitted as the training script fits them."""
    texts, _ = training_texts(load_corpus())
    vectorizers = []
    for spec in ANALYZERS:
        vectorizers.append(vectorizer(spec).fit(texts))
    return vectorizers


def sklearn_analyzer(kind: str, low: int, high: int) -> Any:
    return TfidfVectorizer(analyzer=kind, ngram_range=(low, high)).build_analyzer()


RANGES = [(1, 1), (1, 2), (2, 4), (3, 5)]

#: Unicode, whitespace of every kind and in runs, the empty string.
_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(" \t\n\r\x0b\x0c\x1c\x1f\x85\u00a0\u2003\u2028\u3000"),
        st.sampled_from("aeé\u0130\u00dfK\u212a'-_#+?"),
    ),
    max_size=120,
)


# -- the analyzers ------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), RANGES)
def test_word_ngrams_are_sklearns_on_the_corpus(corpus: list[str], low: int, high: int) -> None:
    theirs = sklearn_analyzer("word", low, high)
    for text in corpus:
        assert word_ngrams(text, low, high) == theirs(text), text


@pytest.mark.parametrize(("low", "high"), RANGES)
def test_char_wb_ngrams_are_sklearns_on_the_corpus(corpus: list[str], low: int, high: int) -> None:
    theirs = sklearn_analyzer("char_wb", low, high)
    for text in corpus:
        assert char_wb_ngrams(text, low, high) == theirs(text), text


@given(_TEXT)
@example("")
@example("   ")
@example("a\t\t b\n\n\nc  \u3000 d")
@example("I\u0130 STRASSE stra\u00dfe \u212aelvin")
@example("x")
def test_the_analyzers_are_sklearns_on_any_text(text: str) -> None:
    for low, high in RANGES:
        assert word_ngrams(text, low, high) == sklearn_analyzer("word", low, high)(text)
        assert char_wb_ngrams(text, low, high) == sklearn_analyzer("char_wb", low, high)(text)


def _ours(fitted: list[TfidfVectorizer]) -> list[tm._Analyzer]:
    """The module's analyzers built from scikit-learn's fitted vocabularies and IDF."""
    analyzers = []
    offset = 0
    for spec, theirs in zip(ANALYZERS, fitted, strict=True):
        analyzers.append(
            tm._Analyzer(
                kind=str(spec["kind"]),
                low=int(str(spec["low"])),
                high=int(str(spec["high"])),
                index=dict(theirs.vocabulary_),
                idf=theirs.idf_,
                offset=offset,
            )
        )
        offset += len(theirs.idf_)
    return analyzers


def _rows_equal(ours: tm._Analyzer, theirs: TfidfVectorizer, texts: list[str]) -> None:
    """Every text's TF-IDF row: the same columns, the same values (to rounding)."""
    expected = theirs.transform(texts).tocsr()
    expected.sort_indices()
    for row, text in enumerate(texts):
        start, stop = expected.indptr[row], expected.indptr[row + 1]
        columns, values = ours.features(text)
        order = np.argsort(columns)
        assert np.array_equal(columns[order] - ours.offset, expected.indices[start:stop]), text
        assert np.allclose(values[order], expected.data[start:stop], rtol=1e-12, atol=0), text


def test_tfidf_rows_are_sklearns_on_the_corpus(
    corpus: list[str], fitted: list[TfidfVectorizer]
) -> None:
    extra = ["", "   ", "zzzz qqqq", "k8s?", "what is candidate day rate?"]
    for ours, theirs in zip(_ours(fitted), fitted, strict=True):
        _rows_equal(ours, theirs, corpus + extra)


def test_the_shipped_analyzers_are_the_corpus_fit(fitted: list[TfidfVectorizer]) -> None:
    shipped = topic_model()
    for ours, theirs in zip(shipped.analyzers, fitted, strict=True):
        assert ours.index == theirs.vocabulary_
        assert np.array_equal(ours.idf, theirs.idf_)


# A small fit for the hypothesis test (fixtures and @given do not mix per example).
_FITTED = [
    TfidfVectorizer(analyzer=spec["kind"], ngram_range=(spec["low"], spec["high"])).fit(
        ["what is candidate day rate?", "does candidate know kafka?", "Ünïcödé  words\there"]
    )
    for spec in ANALYZERS
]


@given(st.lists(_TEXT, min_size=1, max_size=5))
@example([""])
@example(["   \t\n "])
def test_tfidf_rows_are_sklearns_on_any_text(
    texts: list[str],
) -> None:
    for ours, theirs in zip(_ours(_FITTED), _FITTED, strict=True):
        _rows_equal(ours, theirs, texts)


def test_the_full_scores_are_a_softmax_of_sklearns_features(
    fitted: list[TfidfVectorizer],
) -> None:
    model = topic_model()
    texts = ["what is candidate day rate?", "k8s?", "", "does candidate know zig", "hi"]
    blocks = [vectorizer.transform(texts).toarray() for vectorizer in fitted]
    blocks.append(embed(texts).astype(np.float64) * model.embedding_weight)
    scores = np.hstack(blocks) @ model.coef + model.intercept
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(model.probabilities(texts), expected, atol=1e-9)


# -- the shipped model ------------------------------------------------------------------


def test_the_shipped_model_loads_once_and_its_classes_are_the_topics() -> None:
    model = topic_model()
    assert topic_model() is model
    assert set(model.classes) == set(vocabulary().topics)
    assert len(model.classes) == len(set(model.classes))
    width = sum(len(analyzer.idf) for analyzer in model.analyzers) + 256
    assert model.coef.shape == (width, len(model.classes))
    assert model.intercept.shape == (len(model.classes),)


def test_probabilities_are_rows_that_sum_to_one() -> None:
    model = topic_model()
    texts = ["what is candidate day rate?", "", "   ", "?!", "k8s", "\u3000\u00e9" * 50]
    rows = model.probabilities(texts)
    assert rows.shape == (len(texts), len(model.classes))
    assert np.all(rows >= 0) and np.all(rows <= 1)
    assert np.allclose(rows.sum(axis=1), 1.0, atol=1e-12)
    assert model.probabilities([]).shape == (0, len(model.classes))
    day_rate = rows[0]
    assert model.classes[int(np.argmax(day_rate))] == "compensation:pay"


def test_deterministic_across_two_loads_and_batch_sizes() -> None:
    texts = ["what is candidate day rate?", "does candidate know kafka?", "", "hello"]
    first, second = load(MODEL_FILE), load(MODEL_FILE)
    assert first is not second
    assert np.array_equal(first.probabilities(texts), second.probabilities(texts))
    # more than one block of questions: every row as if scored alone
    many = texts * 520
    assert len(many) > tm._BLOCK
    rows = first.probabilities(many)
    alone = first.probabilities(texts)
    assert np.allclose(rows, np.tile(alone, (520, 1)), atol=1e-12)


def test_the_shipped_file_holds_no_pickled_object() -> None:
    with np.load(MODEL_FILE, allow_pickle=False) as data:
        for name in data.files:
            assert data[name].dtype.kind in "Uf", name
        meta = json.loads(str(data["meta"]))
    assert [spec["kind"] for spec in meta["analyzers"]] == ["word", "char_wb"]


def test_a_file_with_a_pickled_object_is_refused(tmp_path: Path) -> None:
    with np.load(MODEL_FILE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["classes"] = np.array(list(arrays["classes"]), dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays, allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        load(path)


def test_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "no-model.npz")


def test_save_then_load_keeps_the_model(tmp_path: Path) -> None:
    words = TfidfVectorizer(analyzer="word", ngram_range=(1, 1)).fit(["day rate", "know kafka"])
    terms = sorted(words.vocabulary_, key=words.vocabulary_.__getitem__)
    # "day" and "rate" say pay, "know" and "kafka" say a technology
    coef = np.array([[1.0, -1.0] if term in {"day", "rate"} else [-1.0, 1.0] for term in terms])
    fitted = {
        "classes": ["compensation:pay", "skills:tech"],
        "coef": coef,
        "intercept": np.array([0.0, 0.0]),
        "analyzers": [
            {
                "name": "word",
                "kind": "word",
                "low": 1,
                "high": 1,
                "vocabulary": terms,
                "idf": words.idf_,
            }
        ],
        "meta": {
            "analyzers": [{"name": "word", "kind": "word", "low": 1, "high": 1}],
            "embedding_weight": 0.0,
        },
    }
    path = tmp_path / "tiny.npz"
    save(path, fitted)
    model = load(path)
    assert isinstance(model, TopicModel)
    assert model.classes == ("compensation:pay", "skills:tech")
    assert model.analyzers[0].index == words.vocabulary_
    rows = model.probabilities(["day rate?", "kafka", "nothing known"])
    assert rows[0, 0] > 0.5 > rows[1, 0]
    assert np.allclose(rows[2], [0.5, 0.5])
