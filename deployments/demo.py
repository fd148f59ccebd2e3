"""``make demo``: the whole story on an embedded AWS, no account and no Prefect server needed.

Provision the stack, replay the sample as the Worker sends it (moved to the last complete
weeks, since the emulator never expires TTL items and old traffic would make TTL checks
fail for the wrong reason), process it, then run the flows one after another on
Prefect's ephemeral engine. Prints a short summary per step; exits non-zero if any fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3

from deployments.local_stack import EventSourceMapping, StackInfo, expire_ttl_items, local_stack
from deployments.worker import SAMPLES_DIR, load_sample, send_all, shifted, weeks_between
from lambdas.processor.weeks import Week
from tasks.dynamodb.week_index import query_week_orphans, query_week_records

SAMPLE_LAST_WEEK = Week(2025, 46)


@dataclass
class Step:
    name: str
    run: Callable[[], str]


@dataclass
class DemoState:
    stack: StackInfo
    weeks: tuple[Week, Week]  # the replayed sample's two weeks (previous, last)
    offset: int  # whole weeks the sample was moved by
    report_week: Week


def replay_sample(state: DemoState) -> str:
    """Send the sample like the Worker (shifted to recent weeks) while the poller drains."""
    from lambdas.processor.handler import handler

    offset = state.offset
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


def expected_figures(weeks_moved: int, sample_week: Week = SAMPLE_LAST_WEEK) -> dict[str, Any]:
    """The sample's expected figures (samples/), relabelled for the moved weeks."""
    expected: dict[str, Any] = json.loads(
        (SAMPLES_DIR / f"expected-{sample_week}.json").read_text(encoding="utf-8")
    )
    week = sample_week.shift(weeks_moved)
    start = week.start
    expected["week"] = week.id
    expected["period_start"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    expected["period_end"] = (start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for day, entry in enumerate(expected["daily_queries"]):
        entry["date"] = (start + timedelta(days=day)).date().isoformat()
    expected["previous_week"]["week"] = week.previous.id
    return expected


def weekly_report_step(state: DemoState) -> str:
    from flows.weekly_report import weekly_report

    week = state.report_week
    run_state = weekly_report(week=week.id, return_state=True)
    figures = run_state.result()
    shown = figures.model_dump(mode="json")
    sample_week = week.shift(-state.offset)
    if (SAMPLES_DIR / f"expected-{sample_week}.json").exists():
        expected = expected_figures(state.offset, sample_week)
        if shown != expected:
            wrong = sorted(k for k in expected if shown.get(k) != expected[k])
            raise AssertionError(f"figures differ from the sample's expected figures in {wrong}")
        moved = f" (moved to {week})" if state.offset else ""
        check = f"figures equal samples/expected-{sample_week}.json{moved}"
    else:
        check = "no expected figures for this week in samples/ (it covers 2025-W45/W46)"
    folder = Path(state.stack.settings.report_output_dir) / week.id
    return (
        f"  {week}: {shown['total_queries']} questions, match rate {shown['match_rate']}, "
        f"{len(shown['unmatched_queries'])} kinds of question the CV could not answer\n"
        f"  {check}\n"
        f"  e-mail sent once; archived to s3://{state.stack.settings.archive_bucket}/reports/"
        f"{week}/\n  open {folder / 'report.html'} (text: {folder / 'report.txt'})"
    )


def triage_step() -> str:
    from flows.dlq_triage import dlq_triage

    preview = dlq_triage(dry_run=True)
    summary = dlq_triage()
    return (
        f"  dry run saw {preview.seen} of {preview.dlq_depth_before} (FIFO: one page per "
        f"group until it is settled), changed nothing\n"
        f"  real run: {summary.counts} -> redriven {summary.redriven}, archived "
        f"{summary.archived} to S3 with reasons, left {summary.left}"
    )


def findings_step(run: Callable[[], Any]) -> str:
    run_state = run()
    findings = run_state.result(raise_on_failure=False)
    if not run_state.is_completed():
        raise RuntimeError((run_state.message or "failed").splitlines()[0])
    return f"  {findings.headline}"


def flow_steps(state: DemoState, args: argparse.Namespace) -> list[Step]:
    """The flows, each as one demo step (imported lazily: Prefect is slow to import)."""
    steps = [Step("weekly report", lambda: weekly_report_step(state))]
    if args.report_only:
        return steps

    def ttl_step() -> str:
        from flows.ttl_verification import ttl_verification

        expired = expire_ttl_items()
        summary = findings_step(lambda: ttl_verification(return_state=True))
        return f"  (local stand-in for DynamoDB's TTL deleter removed {expired} items)\n{summary}"

    def health_step() -> str:
        from flows.health_check import health_check

        return findings_step(lambda: health_check(return_state=True))

    def maintenance_step() -> str:
        from flows.monthly_maintenance import monthly_maintenance

        return findings_step(lambda: monthly_maintenance(return_state=True))

    return [
        *steps,
        Step("DLQ triage", triage_step),
        Step("TTL verification", ttl_step),
        Step("health check", health_step),
        Step("monthly maintenance", maintenance_step),
    ]


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # EMF lines would drown the story
    os.environ.setdefault("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(Path("out/reports").resolve()))
    # Prefect's ephemeral engine, never an operator's server or profile
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.setdefault("PREFECT_HOME", str(Path("out/prefect-home").resolve()))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # a fresh PREFECT_HOME migrates its database first: 20 s is not always enough on 2 cores
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "botocore,boto3")
    started = time.perf_counter()
    failed = 0
    with local_stack() as stack:
        if args.report_only:  # the sample as it is (no TTL check), any week reported
            last, report_week = SAMPLE_LAST_WEEK, args.week or SAMPLE_LAST_WEEK
        else:  # moved to the last complete weeks: see the module docstring
            last = args.week or Week.last_complete()
            report_week = last
        offset = weeks_between(SAMPLE_LAST_WEEK, last)
        state = DemoState(stack, (last.previous, last), offset, report_week)
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


def week_argument(text: str) -> Week:
    """``--week``: parsed once here, refused with the expected form."""
    try:
        return Week.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--week",
        type=week_argument,
        help="the week to report; without --report-only the sample is moved to end on it",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="load the sample as it is (2025-W45/W46) and only build --week's report",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args: Any = parse_args(argv)
    sys.exit(run(args))


if __name__ == "__main__":
    main()
