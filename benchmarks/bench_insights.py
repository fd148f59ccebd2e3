"""Benchmark of intents and themes (tasks.core.intents, tasks.core.themes); prints JSON.

A synthetic week of ``--requests`` requests over ``--distinct`` distinct display queries
(templates x technologies x typos and suffixes, plus free-form questions the topic tables
do not know, which go through the embedding's residual clustering), request counts
Zipf-like. Timed, in this process, after building the input:

- ``model_load_seconds``: reading the vocabulary, the topic model and the embedding
  (once per process; goal < 1 s);
- ``themes_seconds``: counting the week's display queries, keys per distinct query (rules,
  the topic model, technologies; the candidate folded),
  the per-intent request counts and :func:`group_themes` (model load excluded; it is
  reported on its own and ``cold_total_seconds`` adds it);
- ``recurrence_seconds``: :func:`recurrence` of the themes against 8 stored weeks;
- ``peak_rss_mb``: this process's ``VmHWM`` (its whole life, input included).

Goals: 1,000 requests < 1 s; 100,000 requests with 20,000 distinct display
queries < 20 s and < 1.5 GB peak RSS.

Usage: ``python -m benchmarks.bench_insights [--requests 100000 --distinct 20000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from typing import Any

from benchmarks.bench_report import peak_rss_mb

TEMPLATES = (
    "does he know {t}?",
    "{t} experience?",
    "how good is his {t}",
    "years of {t}?",
    "has he used {t} in production",
    "is he aws certified",
    "what is his day rate",
    "how much does he charge per day",
    "salary expectations?",
    "when can he start",
    "notice period?",
    "where is he based",
    "would he relocate to {city}",
    "is he open to remote work",
    "contract or permanent?",
    "does he need a visa",
    "what was his last role",
    "has he managed a team",
    "what are his strengths",
    "which companies has he worked for",
    "what did he study",
    "any certifications?",
    "how can i contact him",
    "email me at [email] about a {t} role",
    "call [phone] about a {t} role",
    "can we book an interview",
    "is he married",
    "are you a bot",
    "tell me a joke",
)
TECH = (
    "python",
    "kubernetes",
    "k8s",
    "react",
    "fortran",
    "go",
    "golang",
    "java",
    "kafka",
    "docker",
    "terraform",
    "typescript",
    "c#",
    ".net",
    "postgres",
    "aws",
    "rust",
    "graphql",
    "scala",
    "ruby",
)
CITIES = ("london", "berlin", "paris", "new york", "tokyo", "amsterdam")
SUFFIXES = ("", "?", " please", " pls", "??", " thanks", " asap", "!")
#: Free-form experience questions with no topic in the tables (residual clustering).
FREE_WORDS = (
    "career",
    "background",
    "cv",
    "developer",
    "engineer",
    "journey",
    "path",
    "story",
    "profile",
    "resume",
)
FILLER = ("tell", "me", "about", "his", "the", "overall", "whole", "summary", "of", "short")
#: Words for the worst case: questions that share little, so almost each one stands alone.
POOL = (
    "river",
    "castle",
    "orange",
    "violin",
    "planet",
    "garden",
    "thunder",
    "pencil",
    "mirror",
    "harbor",
    "winter",
    "candle",
    "forest",
    "rocket",
    "silver",
    "marble",
    "desert",
    "island",
    "saddle",
    "copper",
    "lantern",
    "meadow",
    "glacier",
    "falcon",
    "tunnel",
    "anchor",
    "blanket",
    "canyon",
    "feather",
    "hammer",
    "jungle",
    "ladder",
    "magnet",
    "needle",
    "oyster",
    "parrot",
    "quarry",
    "ribbon",
    "summit",
    "temple",
    "umbrella",
    "valley",
    "walnut",
    "yogurt",
    "zipper",
    "bakery",
    "cactus",
    "dolphin",
    "engine",
    "fabric",
    "goblet",
    "helmet",
    "igloo",
    "jacket",
    "kettle",
    "lemon",
    "mango",
    "noodle",
    "orchid",
    "pepper",
    "quilt",
    "radish",
    "spider",
    "tomato",
    "unicorn",
    "vessel",
    "wallet",
    "yacht",
    "zebra",
    "bridge",
    "cinema",
    "diesel",
    "elbow",
)


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 6:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def synthetic_queries(distinct: int, rng: random.Random, free_share: float = 0.1) -> list[str]:
    """``distinct`` distinct display queries, ``free_share`` of them free-form (no topic)."""
    seen: dict[str, None] = {}
    while len(seen) < distinct:
        if free_share >= 1.0:
            text = "what about the " + " ".join(rng.sample(POOL, 4)) + "?"
        elif rng.random() < free_share:
            words = [*rng.sample(FILLER, 4), rng.choice(FREE_WORDS), f"{rng.randrange(100)}"]
            text = " ".join(words)
        else:
            template = rng.choice(TEMPLATES)
            text = template.format(t=rng.choice(TECH), city=rng.choice(CITIES))
            if rng.random() < 0.3:
                text = _typo(text, rng)
            text += rng.choice(SUFFIXES)
            if rng.random() < 0.5:
                text += f" #{rng.randrange(10_000)}"
        seen.setdefault(text, None)
    return list(seen)


def synthetic_week(
    requests: int, distinct: int, seed: int = 7, free_share: float = 0.1
) -> list[str]:
    """One display query per request: every distinct query at least once, Zipf-ish."""
    rng = random.Random(seed)
    queries = synthetic_queries(min(distinct, requests), rng, free_share)
    weights = [1 / (rank + 1) for rank in range(len(queries))]
    extra = rng.choices(queries, weights=weights, k=requests - len(queries))
    week = queries + extra
    rng.shuffle(week)
    return week


def run(requests: int, distinct: int, free_share: float = 0.1) -> dict[str, Any]:
    week = synthetic_week(requests, distinct, free_share=free_share)
    stored = [synthetic_queries(min(distinct, 2000), random.Random(100 + n)) for n in range(8)]

    started = time.perf_counter()
    from tasks.core.embedding import load_model
    from tasks.core.topic_model import topic_model
    from tasks.core.vocabulary import vocabulary

    load_model()
    topic_model()
    vocabulary()
    model_load = time.perf_counter() - started

    from tasks.core.candidate import Candidate
    from tasks.core.intents import Questions
    from tasks.core.themes import group_themes, recurrence

    started = time.perf_counter()
    questions = Questions(Candidate("Sam Lee"), sources=("Cloudflare Workers", "Acme Billing"))
    counts = Counter(week)
    queries = sorted(counts)
    intents = dict(zip(queries, (intent for intent, _ in questions.keys(queries)), strict=True))
    per_intent: Counter[str] = Counter()
    for query, count in counts.items():
        per_intent[intents[query]] += count
    themes = group_themes(queries, [counts[query] for query in queries], questions=questions)
    themes_seconds = time.perf_counter() - started

    previous = [
        [{"theme": q, "members": [{"query": q, "count": 1}]} for q in week_queries]
        for week_queries in stored
    ]
    started = time.perf_counter()
    flags = recurrence(themes, previous, questions)
    recurrence_seconds = time.perf_counter() - started

    residual = sum(1 for theme in themes if ":~" in theme.key)
    return {
        "requests": requests,
        "distinct_queries": len(queries),
        "themes": len(themes),
        "residual_themes": residual,
        "new_themes": sum(flag.new for flag in flags),
        "intent_counts": dict(sorted(per_intent.items())),
        "model_load_seconds": round(model_load, 3),
        "themes_seconds": round(themes_seconds, 3),
        "cold_total_seconds": round(model_load + themes_seconds, 3),
        "recurrence_seconds_8_weeks": round(recurrence_seconds, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--small-requests", type=int, default=1_000)
    args = parser.parse_args()
    # The small week runs first in this cold process: its figures include the model load.
    small = run(args.small_requests, args.small_requests)
    large = run(args.requests, args.distinct)
    # Worst case: every distinct query is one no topic knows (strict paraphrase clustering).
    unknown = run(args.requests, args.distinct, free_share=1.0)
    result = {
        "small_week": small,
        "large_week": large,
        "large_week_all_unknown": unknown,
        "goals": {
            "small_under_1_s": small["cold_total_seconds"] < 1.0,
            "large_under_20_s": large["themes_seconds"] + small["model_load_seconds"] < 20.0,
            "model_load_under_1_s": small["model_load_seconds"] < 1.0,
            "worst_case_under_20_s": unknown["themes_seconds"] < 20.0,
            "peak_rss_under_1_5_gb": max(large["peak_rss_mb"], unknown["peak_rss_mb"]) < 1536,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
