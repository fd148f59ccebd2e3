"""Fuzzing the flows' parameters: anything is either accepted or refused with what was expected."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.exceptions import ParameterTypeError

from flows.dlq_triage import dlq_triage
from flows.report_regeneration import report_regeneration
from flows.weekly_report import weekly_report
from lambdas.shared.weeks import InvalidWeekError, Week

near_weeks = st.builds(
    lambda y, w, sep: f"{y}{sep}{w}",
    st.integers(-10, 12000),
    st.integers(-5, 99).map(lambda n: f"{n:02d}"),
    st.sampled_from(["-W", "-w", "W", "-", "--W", " -W"]),
)


def reportable(week: str) -> bool:
    """The rule, restated: an existing week of 2020 to next year that has ended (UTC)."""
    try:
        parsed = Week.parse(week)
    except InvalidWeekError:
        return False
    now = datetime.now(UTC)
    return 2020 <= parsed.year <= now.year + 1 and parsed.end <= now


#: Weeks around the edges of the rule: the first and the ones about now and next year.
edge_weeks = st.builds(
    lambda year, number: f"{year:04d}-W{number:02d}",
    st.sampled_from([1, 2019, 2020, datetime.now(UTC).year, datetime.now(UTC).year + 1, 9998]),
    st.integers(1, 53),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=12), near_weeks, edge_weeks, st.none()))
def test_a_week_is_accepted_exactly_when_it_is_reportable(week: str | None) -> None:
    for flow_ in (weekly_report, report_regeneration):
        # empty means "the last complete week" where the week may be left out (the
        # schedule's run); None is not a week: the form never sends it
        exists = week is not None and (reportable(week) or (week == "" and flow_ is weekly_report))
        try:
            flow_.validate_parameters({"week": week})
        except ParameterTypeError as refused:
            assert not exists, refused
            assert "YYYY-Www" in str(refused) or "string" in str(refused).lower()
        else:
            assert exists and (week == "" or re.fullmatch(r"[0-9]{4}-W[0-9]{2}", week or ""))


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(-(10**6), 10**6), st.none(), st.booleans(), st.text(max_size=5)))
def test_triage_budget_is_a_whole_number_from_zero(max_messages: object) -> None:
    try:
        validated = dlq_triage.validate_parameters({"max_messages": max_messages})
    except ParameterTypeError as refused:
        assert "max_messages" in str(refused)
        assert not (type(max_messages) is int and max_messages >= 0)
    else:
        value = validated["max_messages"]
        assert type(value) is int and value >= 0  # 0: every message


@pytest.mark.parametrize("resend", ["true", "yes", 1, 0, "false", None])
def test_resend_is_a_json_boolean_only(resend: object) -> None:
    # the Run form and `--param resend=true` send a JSON boolean; anything else is a typo
    for flow_ in (weekly_report, report_regeneration):
        with pytest.raises(ParameterTypeError, match="resend"):
            flow_.validate_parameters({"week": "2025-W45", "resend": resend})
        assert flow_.validate_parameters({"week": "2025-W45", "resend": True})["resend"] is True
