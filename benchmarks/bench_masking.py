"""Masking throughput on hostile text: megabytes per second of :func:`mask`.

Each shape is text a visitor could paste to slow the masking down (long runs without
``@``, digits, ``at``/``dot`` words, ``%`` escapes, hidden characters, bidirectional
controls), ``--kib`` KiB of it. Prints one JSON object: seconds per shape (best of
``--repeat``), MiB/s, and the capped surfaces (a display query and a DLQ sample of the same
text), which read a bounded prefix only.

Usage: ``python -m benchmarks.bench_masking [--kib 1024] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from tasks.core.masking import display_query, mask, mask_sample

#: Hostile text of about ``n`` characters per shape: what a visitor could paste to make the
#: masking slow. ``tests/tasks/core/test_masking.py`` checks each grows linearly.
SHAPES: dict[str, Callable[[int], str]] = {
    "letters_without_at": lambda n: "a" * n,
    "address_like_without_at": lambda n: "john.doe-" * (n // 9),
    "dotted_letters": lambda n: "a." * (n // 2),
    "digits": lambda n: "12345678 " * (n // 9),
    "spaced_digits": lambda n: "1  2 " * (n // 5),
    "phone_numbers": lambda n: "call +44 20 7946 0958 " * (n // 22),
    "pluses": lambda n: "+1 2 3 4 5 6 7 " * (n // 15),
    "at_dot_words": lambda n: "jane at example dot com " * (n // 24),
    "short_at_words": lambda n: "x at y dot " * (n // 11),
    "plain_at": lambda n: "a.b at c." * (n // 9),
    "ats": lambda n: "a@" * (n // 2),
    "addresses": lambda n: "jane.doe@example.com " * (n // 21),
    "percent_escapes": lambda n: "%6a%40" * (n // 6),
    "short_escapes": lambda n: "%41" * (n // 3),
    "entities": lambda n: "&#64;&amp;" * (n // 10),
    "hidden_characters": lambda n: "a\u200b" * (n // 2),
    "bidi_overrides": lambda n: "\u202emoc.elpmaxe@nhoj\u202c " * (n // 20),
    "open_bidi": lambda n: "\u202eab" * (n // 3),
    "unclosed_tags": lambda n: "<b x=1" * (n // 6),
    "closed_tags": lambda n: "1<b>" * (n // 4),
    "lines": lambda n: "1\n2 " * (n // 4),
    "handles": lambda n: "a.b/@" * (n // 5),
    "uris": lambda n: "tel:1 " * (n // 6),
    "dates_and_ids": lambda n: "2026-11-09 12:30 04e1a2b3-a01e-4c4f " * (n // 36),
}


def _best(function: Callable[[str], str], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - started)
    return best


def run(kib: int, repeat: int) -> dict[str, object]:
    mask("warm the caches: a@b.io")
    size = kib * 1024
    shapes: dict[str, dict[str, float]] = {}
    for name, make in SHAPES.items():
        text = make(size)
        seconds = _best(mask, text, repeat)
        shapes[name] = {
            "mask_seconds": round(seconds, 3),
            "mib_per_second": round(len(text) / 1_048_576 / seconds, 2),
            "display_query_ms": round(_best(display_query, text, repeat) * 1000, 2),
            "mask_sample_ms": round(_best(lambda t: mask_sample(t, 160), text, repeat) * 1000, 2),
        }
    worst = max(shapes, key=lambda name: shapes[name]["mask_seconds"])
    return {
        "text_kib": kib,
        "worst_shape": worst,
        "worst_mask_seconds": shapes[worst]["mask_seconds"],
        "shapes": shapes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kib", type=int, default=1024, help="size of each hostile text")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    print(json.dumps(run(args.kib, args.repeat)))


if __name__ == "__main__":
    main()
