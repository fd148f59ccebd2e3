"""``make demo``: the whole story on an embedded AWS, no account and no Prefect server needed.

Provision the stack, replay the sample as the Worker sends it (moved to the last complete
weeks, since the emulator never expires TTL items and old traffic would make TTL checks
fail for the wrong reason), process it, then run the flows one after another on
Prefect's ephemeral engine. Prints a short summary per step; exits non-zero if any fails.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from deployments.local_stack import EventSourceMapping, StackInfo, local_stack
from deployments.worker import load_sample, send_all, shifted, weeks_between
from lambdas.processor.weeks import last_complete_week, shift_week
from tasks.dynamodb import query_week_orphans, query_week_records

SAMPLE_LAST_WEEK = "2025-W46"


@dataclass
class Step:
    name: str
    run: Callable[[], str]


@dataclass
class DemoState:
    stack: StackInfo
    weeks: tuple[str, str]  # (previous, last complete)


def replay_sample(state: DemoState) -> str:
    """Send the sample like the Worker (shifted to recent weeks) while the poller drains."""
    from lambdas.processor.handler import handler

    offset = weeks_between(SAMPLE_LAST_WEEK, state.weeks[1])
    sends = list(shifted(load_sample(), offset))
    esm = EventSourceMapping(handler)
    totals = {"invocations": 0, "processed": 0}

    def drain() -> None:
        result = esm.drain()
        totals["invocations"] += result.invocations
        totals["processed"] += result.processed

    send_all(sends, state.stack.queue_url, between_chunks=drain)
    lines = [
        f"sent {len(sends)} Worker messages (sample moved {offset} weeks to {state.weeks[1]}); "
        f"{totals['invocations']} processor invocations"
    ]
    for week in state.weeks:
        records = query_week_records(week)
        answered = sum("matchType" in r for r in records)
        lines.append(
            f"  {week}: {len(records)} requests ({answered} answered), "
            f"{len(query_week_orphans(week))} orphan responses"
        )
    sqs = boto3.client("sqs", region_name=state.stack.settings.region)
    depth = sqs.get_queue_attributes(
        QueueUrl=state.stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    lines.append(f"  DLQ: {depth} invalid events, each with a reason (triage shows them)")
    return "\n".join(lines)


def build_steps(state: DemoState, args: argparse.Namespace) -> list[Step]:
    steps = [Step("process the Worker's traffic", lambda: replay_sample(state))]
    steps.extend(flow_steps(state, args))
    return steps


def flow_steps(state: DemoState, args: argparse.Namespace) -> list[Step]:
    """The flows of later issues, each as one demo step (imported lazily: Prefect is slow)."""
    return []


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # EMF lines would drown the story
    os.environ.setdefault("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(Path("out/reports").resolve()))
    started = time.perf_counter()
    failed = 0
    with local_stack() as stack:
        last = args.week or last_complete_week()
        state = DemoState(stack, (shift_week(last, -1), last))
        print(f"embedded AWS on {stack.endpoint_url}; weeks {state.weeks[0]} and {state.weeks[1]}")
        for number, step in enumerate(build_steps(state, args), start=1):
            begun = time.perf_counter()
            try:
                summary = step.run()
            except Exception as exc:  # a failed step is reported, the story goes on
                failed += 1
                print(f"[{number}] {step.name}: FAILED ({type(exc).__name__}: {exc})")
                continue
            print(f"[{number}] {step.name} ({time.perf_counter() - begun:.1f} s)\n{summary}")
    outcome = "all steps passed" if not failed else f"{failed} step(s) FAILED"
    print(f"demo finished in {time.perf_counter() - started:.0f} s: {outcome}")
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--week", help="replay the sample so its last week is this ISO week")
    parser.add_argument(
        "--report-only", action="store_true", help="only load the sample and build the report"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args: Any = parse_args(argv)
    sys.exit(run(args))


if __name__ == "__main__":
    main()
