"""``make eval``: quality of intents and themes on the labelled questions; prints JSON.

Figures per labelled set (report-insights.md; the goals apply to the held-out set):

- ``must_link_recall``: share of same-group pairs that share a theme (goal >= 0.75);
- ``cannot_link_precision``: share of different-group pairs, ``related`` ones aside, that
  are in different themes (goal >= 0.97);
- ``intent_accuracy``: share of queries whose intent is the group's (goal >= 0.85).

Sets: ``heldout`` (samples/labelled-questions-heldout.json, never tuned on) and ``tuning``
(samples/labelled-questions.json and samples/labelled-questions-tuning.json). Each set's
queries are grouped in one call, as one week would be. ``--alternatives`` adds the
figures of the approaches measured and not chosen (docs/insights-model.md).

Usage: ``python -m benchmarks.eval_insights [--alternatives] [--errors]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tasks.core.intents import INTENTS, classify_intent
from tasks.core.themes import group_themes

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
HELDOUT = ("labelled-questions-heldout.json",)
TUNING = ("labelled-questions.json", "labelled-questions-tuning.json")
GOALS = {"must_link_recall": 0.75, "cannot_link_precision": 0.97, "intent_accuracy": 0.85}

Grouper = Callable[[Sequence[str]], dict[str, int]]


def load_groups(name: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))[
        "groups"
    ]
    return groups


def shipped_grouper(queries: Sequence[str]) -> dict[str, int]:
    """Query -> theme number, from :func:`tasks.core.themes.group_themes`."""
    themes = group_themes(list(queries), [1] * len(queries))
    return {member.query: n for n, theme in enumerate(themes) for member in theme.members}


def embedding_grouper(threshold: float) -> Grouper:
    """Alternative: no topic tables, leader clustering of the embedding within an intent."""

    def grouper(queries: Sequence[str]) -> dict[str, int]:
        from tasks.core.embedding import embed
        from tasks.core.themes import _leader_clusters

        result: dict[str, int] = {}
        for intent in INTENTS:
            chosen = sorted(q for q in set(queries) if classify_intent(q) == intent)
            if not chosen:
                continue
            assignment = _leader_clusters(embed(chosen), threshold)
            for query, leader in zip(chosen, assignment, strict=True):
                result[query] = hash((intent, chosen[int(leader)]))
        return result

    return grouper


def pair_figures(groups: list[dict[str, Any]], grouper: Grouper) -> dict[str, Any]:
    queries = [(group["id"], query) for group in groups for query in group["queries"]]
    theme_of = grouper([query for _, query in queries])
    related = {
        frozenset((group["id"], other)) for group in groups for other in group.get("related", [])
    }
    must = must_ok = cannot = cannot_ok = 0
    missed, merged = [], []
    for (ga, qa), (gb, qb) in itertools.combinations(queries, 2):
        same_theme = theme_of[qa] == theme_of[qb]
        if ga == gb:
            must += 1
            must_ok += same_theme
            if not same_theme:
                missed.append([qa, qb])
        elif frozenset((ga, gb)) not in related:
            cannot += 1
            cannot_ok += not same_theme
            if same_theme:
                merged.append([qa, qb])
    return {
        "must_link_recall": round(must_ok / must, 4) if must else None,
        "cannot_link_precision": round(cannot_ok / cannot, 4) if cannot else None,
        "must_link_pairs": must,
        "cannot_link_pairs": cannot,
        "themes": len(set(theme_of.values())),
        "_missed": missed,
        "_merged": merged,
    }


def intent_figures(
    groups: list[dict[str, Any]], classify: Callable[[str], str] = classify_intent
) -> dict[str, Any]:
    wrong = [
        [query, group["intent"], classify(query)]
        for group in groups
        for query in group["queries"]
        if classify(query) != group["intent"]
    ]
    total = sum(len(group["queries"]) for group in groups)
    return {"intent_accuracy": round(1 - len(wrong) / total, 4), "queries": total, "_wrong": wrong}


def nearest_neighbour_intents(train: list[dict[str, Any]]) -> Callable[[str], str]:
    """Alternative: the intent of the most similar labelled tuning query (1-NN, embedding)."""
    from tasks.core.embedding import embed

    texts = [query for group in train for query in group["queries"]]
    labels = [group["intent"] for group in train for _ in group["queries"]]
    matrix = embed(texts)

    def classify(query: str) -> str:
        label: str = labels[int(np.argmax(matrix @ embed([query])[0]))]
        return label

    return classify


def combined_pair_figures(files: list[list[dict[str, Any]]], grouper: Grouper) -> dict[str, Any]:
    """Pair figures over several files, each grouped on its own (one file, one week).

    Two files may hold the same question as two groups, so pairs never span files.
    """
    parts = [pair_figures(groups, grouper) for groups in files]
    must = sum(part["must_link_pairs"] for part in parts)
    cannot = sum(part["cannot_link_pairs"] for part in parts)
    missed = [pair for part in parts for pair in part["_missed"]]
    merged = [pair for part in parts for pair in part["_merged"]]
    return {
        "must_link_recall": round(1 - len(missed) / must, 4) if must else None,
        "cannot_link_precision": round(1 - len(merged) / cannot, 4) if cannot else None,
        "must_link_pairs": must,
        "cannot_link_pairs": cannot,
        "themes": sum(part["themes"] for part in parts),
        "_missed": missed,
        "_merged": merged,
    }


def evaluate(files: list[list[dict[str, Any]]], errors: bool) -> dict[str, Any]:
    groups = [group for groups in files for group in groups]
    figures = {**combined_pair_figures(files, shipped_grouper), **intent_figures(groups)}
    figures["groups"] = len(groups)
    figures["meets_goals"] = all(figures[key] >= goal for key, goal in GOALS.items())
    if not errors:
        figures = {key: value for key, value in figures.items() if not key.startswith("_")}
    return figures


def alternatives(
    heldout: list[list[dict[str, Any]]], tuning: list[list[dict[str, Any]]]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6):
        for name, files in (("heldout", heldout), ("tuning", tuning)):
            figures = combined_pair_figures(files, embedding_grouper(threshold))
            result[f"embedding_only_themes_{threshold}_{name}"] = {
                key: value for key, value in figures.items() if not key.startswith("_")
            }
    train = [group for groups in tuning for group in groups]
    test = [group for groups in heldout for group in groups]
    nn = intent_figures(test, nearest_neighbour_intents(train))
    result["nearest_neighbour_intents_heldout"] = {"intent_accuracy": nn["intent_accuracy"]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alternatives", action="store_true", help="figures of alternatives")
    parser.add_argument("--errors", action="store_true", help="list the pairs and intents missed")
    args = parser.parse_args()
    heldout = [load_groups(name) for name in HELDOUT]
    tuning = [load_groups(name) for name in TUNING]
    result: dict[str, Any] = {
        "goals_on_heldout": GOALS,
        "heldout": evaluate(heldout, args.errors),
        "tuning (tuned on; not a measure of quality)": evaluate(tuning, args.errors),
    }
    if args.alternatives:
        result["alternatives"] = alternatives(heldout, tuning)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    sys.exit(0 if result["heldout"]["meets_goals"] else 1)


if __name__ == "__main__":
    main()
