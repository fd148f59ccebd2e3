"""``make demo``: the whole story on an embedded AWS, no account and no Prefect server needed.

Provision the stack, replay the sample as the Worker sends it (moved to the last complete
weeks, since the emulator never expires TTL items and old traffic would make TTL checks
fail for the wrong reason), process it, then run the flows one after another on
Prefect's ephemeral engine. Prints a short summary per step; exits non-zero if any fails.

Before the sample's two weeks come six earlier weeks of generated, realistic traffic
(questions drawn from ``samples/demo-questions.json``, sent as the Worker sends
them and processed by the same Lambda), quieter than the sample's last week and with one
week whose match rate dropped. Their summaries are built by the same code the weekly
aggregation runs, so the report shows trends, new and recurring themes, an anomaly and
the gaps. The sample's weeks keep their exact figures (checked against
``samples/expected-*.json`` on report-metrics.md's keys). ``--report-only`` replays the
sample alone, as it is.

Each command keeps its own Prefect home and report folder (``OUTPUTS``): ``make demo``
``out/prefect-home`` and ``out/reports``, ``make report`` ``out/report/``, ``make serve``
``out/serve/``, so one run beside another shares neither runs nor report files.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from deployments.local_stack import (
    EventSourceMapping,
    StackInfo,
    expire_ttl_items,
    local_stack,
    processor_handler,
)
from deployments.worker import (
    SAMPLES_DIR,
    WorkerSend,
    load_sample,
    send_all,
    shifted,
    weeks_between,
)
from flows.parameters import reportable_week
from lambdas.shared.weeks import Week
from tasks.dynamodb.week_index import query_week_orphans, query_week_records

SAMPLE_LAST_WEEK = Week(2025, 46)
OUT_DIR = Path(__file__).resolve().parents[1] / "out"


@dataclass(frozen=True)
class Outputs:
    """Where one command keeps Prefect's state and writes the reports it renders."""

    root: Path

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect-home"

    @property
    def reports(self) -> Path:
        return self.root / "reports"


#: Per command, never shared: ``make report`` during ``make serve`` must neither show its
#: runs (and their presigned links to its own, short-lived, embedded AWS) in serve's UI
#: nor overwrite serve's reports.
OUTPUTS = {
    "demo": Outputs(OUT_DIR),
    "report": Outputs(OUT_DIR / "report"),
    "serve": Outputs(OUT_DIR / "serve"),
}
#: Generated weeks before the sample's two (so the report's 8-week trend is full).
SEED_WEEKS = 6
#: Requests per generated week, oldest first; the sample's weeks have 91 and 298.
SEED_TOTALS = (84, 97, 103, 118, 92, 109)
#: The generated week (index into SEED_TOTALS) whose answers got worse: a match-rate dip.
SEED_DIP_WEEK = 3
SEED = 20251110
#: Labelled groups the CV does not cover: the chatbot mostly answers them ``none``.
#: TypeScript is one the CV covered only from the sample's weeks on: a gap of the
#: generated weeks that the report's week answers well (``gap_followup``: fixed).
SEED_GAPS = frozenset(
    {"pay", "t-pay", "fortran", "japanese", "t-visa", "t-rust", "t-french", "typescript"}
)
#: The owner's word the demo gives before the report (report-insights.md section 9).
DEMO_DISMISSAL = ("compensation:pay", "I will not state a salary in my CV")
#: Groups whose questions the chatbot can never answer (the visitor left details).
SEED_LEADS = frozenset({"leave-details", "t-leads"})
#: Groups left out of the generated weeks, so their questions are new in the sample.
SEED_ABSENT = frozenset({"t-react", "t-abuse"})
#: The CV items behind an answer (the Worker's ``sourcesUsed``), per labelled group;
#: Java and machine learning were asked about before the sample's weeks, not in them.
SEED_SOURCES: dict[str, tuple[str, ...]] = {
    "docker": ("Docker",),
    "typescript": ("TypeScript",),
    "csharp": ("C#", ".NET"),
    "kafka": ("Kafka",),
    "t-k8s": ("Kubernetes",),
    "t-python": ("Python",),
    "t-go": ("Go",),
    "t-java": ("Java",),
    "t-terraform": ("Terraform",),
    "t-ml": ("Machine learning",),
}
#: Otherwise, by intent: experience answers cite the projects, the rest cite nothing.
SEED_INTENT_SOURCES: dict[str, tuple[str, ...]] = {
    "experience": ("Cloudflare Workers", "AWS Lambda", "Terraform", "DynamoDB"),
}
#: Relative traffic per intent (visitors ask about skills most).
SEED_INTENT_WEIGHTS = {
    "skills": 8,
    "experience": 4,
    "availability": 3,
    "contact": 2,
    "compensation": 1,
    "education": 1,
    "other": 1,
}
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148",
)


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


#: The demo's candidate: the report folds "you", "his" and the name into one person.
DEMO_CANDIDATE = json.loads((SAMPLES_DIR / "demo-questions.json").read_text(encoding="utf-8"))[
    "candidate"
]


def labelled_groups() -> list[dict[str, Any]]:
    """The demo's question groups (samples/demo-questions.json: one question per group,
    written as visitors write, to the candidate, by name, in fragments and with typos)."""
    data = json.loads((SAMPLES_DIR / "demo-questions.json").read_text(encoding="utf-8"))
    groups: list[dict[str, Any]] = data["groups"]
    return [group for group in groups if group["id"] not in SEED_ABSENT]


def _raw_query(display: str, rng: random.Random) -> str:
    """What a visitor might have typed for a display query: case, spacing, real details."""
    text = display.replace("[email]", "jo.recruiter@example.org").replace(
        "[phone]", "+44 20 7946 0" + str(rng.randint(100, 999))
    )
    if rng.random() < 0.4:
        text = text[:1].upper() + text[1:]
    return text


def seeded_week(week: Week, total: int, dip: bool, rng: random.Random) -> list[WorkerSend]:
    """One week of realistic Worker traffic: ``total`` questions, most of them answered."""
    groups = labelled_groups()
    weights = [SEED_INTENT_WEIGHTS[g["intent"]] / len(g["queries"]) ** 0.5 for g in groups]
    sessions = [f"visitor-{week.id}-{n}" for n in range(max(4, total // 3))]
    sends = []
    for _ in range(total):
        group = rng.choices(groups, weights)[0]
        display = rng.choice(group["queries"])
        rid = str(uuid.UUID(int=rng.getrandbits(128)))
        day = rng.choices(range(7), (5, 6, 6, 5, 4, 2, 2))[0]
        at = week.start_ms + day * 86_400_000 + rng.randint(7, 22) * 3_600_000
        at += rng.randint(0, 3_599_999)
        session = rng.choice(sessions) if rng.random() < 0.8 else "anonymous"
        query = {
            "eventType": "query",
            "requestId": rid,
            "timestamp": at,
            "query": _raw_query(display, rng),
            "metadata": {"userAgent": rng.choice(USER_AGENTS), "referer": "https://example.dev/cv"},
            "sessionId": session,
        }
        sends.append(WorkerSend(json.dumps(query), "analytics", f"{rid}-query-{at}"))
        if rng.random() < 0.03:
            continue  # the chatbot never answered
        if group["id"] in SEED_LEADS:
            match = "none"
        elif group["id"] in SEED_GAPS:
            match = rng.choices(("none", "partial"), (0.85, 0.15))[0]
        else:
            odds = (0.45, 0.25, 0.30) if dip else (0.70, 0.25, 0.05)
            match = rng.choices(("full", "partial", "none"), odds)[0]
        score = {"full": rng.randint(82, 100), "partial": rng.randint(55, 79)}.get(
            match, rng.randint(8, 40)
        )
        cited = SEED_SOURCES.get(group["id"]) or SEED_INTENT_SOURCES.get(group["intent"], ())
        sources = [rng.choice(cited)] if cited and match != "none" else []
        total_time = round(rng.lognormvariate(7.2, 0.3), 1)
        llm_time = round(total_time * rng.uniform(0.82, 0.92), 1)
        answered = at + int(total_time)
        reply = {
            "eventType": "response",
            "requestId": rid,
            "timestamp": answered,
            "matchType": match,
            "matchScore": score,
            "reasoning": f"{match} match",
            "vectorMatches": rng.randint(0, 5),
            "metadata": {
                "matchQuality": round(score / 100, 2),
                "sourcesUsed": sources,
            },
            "sessionId": session,
            "performance": {
                "totalTime": total_time,
                "llmTime": llm_time,
                "retrievalTime": round(total_time * 0.06, 1),
                "cacheHit": rng.random() < 0.2,
            },
        }
        sends.append(WorkerSend(json.dumps(reply), "analytics", f"{rid}-response-{answered}"))
    return sends


def seeded_weeks(state: DemoState) -> list[Week]:
    """The generated weeks: the :data:`SEED_WEEKS` before the sample's two."""
    first_sample_week = state.weeks[0]
    return [first_sample_week.shift(-offset) for offset in range(SEED_WEEKS, 0, -1)]


def seed_history(state: DemoState) -> str:
    """Send the generated earlier weeks like the Worker while the poller drains."""
    # reproducible demo traffic, not a secret
    rng = random.Random(SEED)  # noqa: S311  # nosec B311
    esm = EventSourceMapping(processor_handler())
    lines = []
    for index, (week, total) in enumerate(zip(seeded_weeks(state), SEED_TOTALS, strict=True)):
        sends = seeded_week(week, total, index == SEED_DIP_WEEK, rng)
        send_all(sends, state.stack.queue_url, between_chunks=esm.drain, batched=True)
        dip = " (answers got worse this week)" if index == SEED_DIP_WEEK else ""
        lines.append(f"  {week}: {total} generated questions, {len(sends)} Worker messages{dip}")
    return "\n".join(lines)


def store_history(state: DemoState) -> str:
    """The summaries of the 7 weeks before the report's, oldest first, built by the code of
    the weekly aggregation (records read once, figures and insights, summary saved)."""
    from tasks.core.aggregate import weekly_figures
    from tasks.core.candidate import Candidate
    from tasks.dynamodb.summaries import previous_summaries, save_summary
    from tasks.week_archive import read_week
    from tasks.weekly_summaries import previous_week_total

    lines = []
    report = state.report_week
    for week in [report.shift(-offset) for offset in range(SEED_WEEKS + 1, 0, -1)]:
        records = read_week(week, state.stack.settings)
        total = previous_week_total(week, state.stack.settings)
        figures = weekly_figures(
            week,
            records.table,
            total,
            previous_summaries(state.stack.settings.summaries_table, week),
            candidate=Candidate(DEMO_CANDIDATE["name"], tuple(DEMO_CANDIDATE["aliases"])),
        )
        save_summary(state.stack.settings.summaries_table, figures, records.source)
        lines.append(
            f"  {week}: {figures.total_queries} questions, match rate {figures.match_rate}, "
            f"{len(figures.themes)} themes, {len(figures.cv_gaps)} gaps"
        )
    return "\n".join(lines)


def replay_sample(state: DemoState, sends: Sequence[WorkerSend] | None = None) -> str:
    """Send the sample like the Worker (shifted to recent weeks) while the poller drains;
    ``sends``: these instead (already prepared for ``state``'s weeks)."""
    offset = state.offset
    sends = list(shifted(load_sample(), offset) if sends is None else sends)
    esm = EventSourceMapping(processor_handler())
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
    table = state.stack.settings.analytics_table
    for week in state.weeks:
        records = query_week_records(table, week)
        answered = sum("matchType" in r for r in records)
        lines.append(
            f"  {week}: {len(records)} requests ({answered} answered), "
            f"{len(query_week_orphans(table, week))} orphan responses"
        )
    sqs = boto3.client("sqs", region_name=state.stack.settings.region)
    depth = sqs.get_queue_attributes(
        QueueUrl=state.stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    lines.append(f"  DLQ: {depth} invalid events, each with a reason (triage shows them)")
    return "\n".join(lines)


def build_steps(state: DemoState, args: argparse.Namespace) -> list[Step]:
    steps = []
    if not args.report_only:
        steps.append(Step("generate 6 earlier weeks of traffic", lambda: seed_history(state)))
    steps.append(Step("process the Worker's traffic", lambda: replay_sample(state)))
    if not args.report_only:
        steps.append(Step("summaries of the 7 weeks before", lambda: store_history(state)))
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


def insights_lines(figures: Any, gaps: int = 5) -> list[str]:
    """What the e-mail leads with, in a few lines: anomalies, top gaps, contacts, themes."""
    lines = [f"  anomaly: {anomaly.message}" for anomaly in figures.anomalies]
    if not figures.anomalies:
        lines.append("  anomalies: none")
    lines.append(f"  top gaps ({len(figures.cv_gaps)} in all):")
    for gap in figures.cv_gaps[:gaps]:
        new = (" NEW" if gap.new else "") + (" (dismissed by the owner)" if gap.dismissed else "")
        lines.append(
            f"    - {gap.theme!r} ({gap.intent}, {gap.kind}, asked {gap.asked}, short "
            f"{gap.short}){new}: {gap.suggestion}"
        )
    new_themes = [theme.theme for theme in figures.themes if theme.new]
    contact = figures.contact_requests
    lines.append(
        f"  contact requests: {contact.count} ({contact.left_details} left details); "
        f"{len(figures.themes)} themes, {len(new_themes)} new"
        + (f" (e.g. {', '.join(repr(t) for t in new_themes[:3])})" if new_themes else "")
    )
    lines.append(
        "  trend: "
        + ", ".join(
            f"{point.week[5:]} {point.total_queries if point.total_queries is not None else 'n/a'}"
            for point in figures.trends
        )
    )
    if figures.unused_sources:
        lines.append(
            f"  CV items nobody asked about this week: {', '.join(figures.unused_sources)}"
        )
    return lines


def weekly_report_step(state: DemoState) -> str:
    from flows.weekly_report import weekly_report
    from tasks.core.aggregate import metric_figures

    week = state.report_week
    run_state = weekly_report(week=week.id, return_state=True)
    figures = run_state.result()
    shown = metric_figures(figures)  # report-metrics.md's keys: the golden files hold them
    sample_week = week.shift(-state.offset)
    if (SAMPLES_DIR / f"expected-{sample_week}.json").exists():
        expected = expected_figures(state.offset, sample_week)
        if shown != expected or list(shown) != list(expected):
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
        f"  {check}\n" + "\n".join([*insights_lines(figures), *followup_lines(figures)]) + "\n"
        f"  e-mail sent once; archived to s3://{state.stack.settings.archive_bucket}/reports/"
        f"{week}/\n  open {folder / 'report.html'} (text: {folder / 'report.txt'})"
    )


def owner_feedback_step() -> str:
    """The owner dismisses one gap from the Prefect UI's form (here: the flow, called)."""
    from flows.owner_feedback import owner_feedback

    theme, note = DEMO_DISMISSAL
    result = owner_feedback(theme=theme, action="dismiss", note=note)
    return (
        f"  owner-feedback: dismiss {theme!r} ({note!r}): "
        f"{'stored' if result.stored else 'already stored'}; "
        f"{len(result.in_force.words)} word(s) in force, applied by every report from now on"
    )


def followup_lines(figures: Any, fixed: int = 3) -> list[str]:
    """The gaps followed across weeks: the ``fixed`` biggest fixes with their before and
    after (least answered well before first), how many are in each state, and the ones
    the owner dismissed."""
    fixes = [e for e in figures.gap_followup if e.state == "fixed" and e.before and e.after]
    fixes.sort(key=lambda e: (e.before.answered_well / e.before.asked, -e.after.asked, e.key))
    lines = [
        f"  FIXED {e.key} ({e.theme!r}): {e.before.answered_well} of {e.before.asked} "
        f"answered well in {e.before.week}, {e.after.answered_well} of {e.after.asked} "
        f"in {e.after.week}"
        for e in fixes[:fixed]
    ]
    states = [entry.state for entry in figures.gap_followup if not entry.dismissed]
    lines.append(
        "  gaps followed: "
        + ", ".join(f"{states.count(s)} {s}" for s in ("fixed", "open", "reopened", "new"))
    )
    lines += [
        f"  DISMISSED {entry.key} ({entry.theme!r}, {entry.state}): {entry.note!r}"
        for entry in figures.gap_followup
        if entry.dismissed
    ]
    return lines


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


def leads_step(state: DemoState) -> str:
    """The hourly leads flow, looking back as far as it may (336 h, two weeks): the
    sample's visitors who left an e-mail address or a phone number in the replayed weeks
    each get one e-mail to the report's recipients (report-insights.md section 7)."""
    from flows.leads import leads
    from tasks.core.leads import MAX_LOOKBACK_HOURS

    since = datetime.now(UTC) - state.weeks[0].start
    hours = min(MAX_LOOKBACK_HOURS, math.ceil(since.total_seconds() / 3600))
    counts = leads(lookback_hours=hours)
    recipients = ", ".join(state.stack.settings.report_recipients)
    repeats = (
        f"{counts.repeats} of them the same details a session had left before, counted in "
        "that session's one e-mail and never sent"
        if counts.repeats
        else "no session left the same details twice (anonymous requests are each their own)"
    )
    return (
        f"  {counts.delivered} lead e-mails delivered to {recipients}, one per visitor and "
        "set of details\n"
        f"  (details were left {counts.found} times in the last {hours} h, {counts.recorded} "
        f"recorded encrypted with {state.stack.settings.leads_key}; {repeats}; the details "
        "are in those e-mails only, the run shows counts)"
    )


def flow_steps(state: DemoState, args: argparse.Namespace) -> list[Step]:
    """The flows, each as one demo step (imported lazily: Prefect is slow to import)."""
    steps = [Step("weekly report", lambda: weekly_report_step(state))]
    if args.report_only:
        return steps
    steps.insert(0, Step("the owner's word", owner_feedback_step))
    # the hourly leads flow runs before Monday's report: the e-mail counts what it delivered
    steps.insert(1, Step("leads", lambda: leads_step(state)))

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


def outputs_of(args: argparse.Namespace) -> Outputs:
    """``make report``'s folders for ``--report-only``, else ``make demo``'s."""
    return OUTPUTS["report" if args.report_only else "demo"]


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # EMF lines would drown the story
    outputs = outputs_of(args)
    os.environ["CV_ANALYTICS_REPORT_OUTPUT_DIR"] = str(outputs.reports)
    os.environ.setdefault("CV_ANALYTICS_CANDIDATE_NAME", DEMO_CANDIDATE["name"])
    os.environ.setdefault("CV_ANALYTICS_CANDIDATE_ALIASES", json.dumps(DEMO_CANDIDATE["aliases"]))
    # Prefect's ephemeral engine in this command's own home, never an operator's server,
    # profile, or another command's home (see OUTPUTS)
    os.environ.pop("PREFECT_API_URL", None)
    os.environ["PREFECT_HOME"] = str(outputs.prefect_home)
    outputs.prefect_home.mkdir(parents=True, exist_ok=True)
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
    """``--week``: parsed once here; a malformed, unreportable or unfinished week is refused
    with the expected form before anything starts."""
    try:
        return reportable_week(text)
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
