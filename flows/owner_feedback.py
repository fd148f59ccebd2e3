"""The owner's word on the weekly report (report-insights.md section 9), from the Prefect UI.

The ``owner-feedback`` deployment (manual only) takes a theme key as the e-mail and the
themes table show it (``compensation:pay``), an action and, for a join, the key to join
into:

- ``dismiss``: the theme is no longer a gap in the advice (the e-mail lists it in one line
  at the end, with the note);
- ``join``: every later report groups the theme's members into ``into``'s theme;
- ``undo``: takes back the theme's dismissal or join.

Bad input is refused before anything is stored: the key's shape by the Run form and the
parameters' validation, the rest (``into`` only for a join and different from ``theme``,
the note's length, nothing to undo, a join that would loop) by the flow's first step, which
ends the run Failed with the reason and no alert (the owner's typo is not an incident).
The word goes into the feedback table (:mod:`tasks.dynamodb.feedback`: one item per key,
the earlier words kept in it, conditional writes, a retried write stores nothing twice);
every report after it, and every regeneration, applies what is in force. The run's
artifact says what is now in force; keys and notes are the owner's words (and a key of an
unknown question quotes a visitor's masked words), so they are markdown-escaped, and no
log line carries them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from prefect import State, flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import ParameterTypeError
from prefect.states import Failed
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from flows.hooks import FLOW_HOOKS, dated_run_name, timeout_seconds
from tasks.conclude import run_artifact_key
from tasks.core.feedback import (
    KEY_LIMIT,
    NOTE_LIMIT,
    Feedback,
    FeedbackError,
    OwnerWord,
    key_problem,
    owner_word,
)
from tasks.core.intents import INTENTS
from tasks.core.render import markdown_escape
from tasks.dynamodb.feedback import current_feedback_task, record_word_task
from tasks.settings import Settings

FLOW_NAME = "owner-feedback"
#: When a word was given, as the feedback table keeps it (UTC).
AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: What the Run form and the server accept as a theme key: an intent of section 1, ':'
#: and a topic (the whole rule, with a message naming it, is the parameter's validator).
THEME_KEY_PATTERN = rf"^\s*(?:{'|'.join(INTENTS)}):.*\S"


def _theme_key(value: str) -> str:
    problem = key_problem(value.strip())
    if problem:
        raise ValueError(problem)
    return value


def _into_key(value: str) -> str:
    problem = key_problem(value.strip(), "into") if value.strip() else None
    if problem:
        raise ValueError(problem)
    return value


#: A theme key, e.g. ``compensation:pay``.
ThemeKey = Annotated[
    StrictStr,
    AfterValidator(_theme_key),
    Field(
        json_schema_extra={
            "pattern": THEME_KEY_PATTERN,
            "maxLength": KEY_LIMIT,
            "examples": ["compensation:pay"],
        }
    ),
]
#: A theme key, or empty (only a join takes one).
IntoKey = Annotated[
    StrictStr,
    AfterValidator(_into_key),
    Field(json_schema_extra={"pattern": f"^$|{THEME_KEY_PATTERN}", "maxLength": KEY_LIMIT}),
]
#: The owner's note, at most 300 characters (checked, with a message, by the first step).
Note = Annotated[StrictStr, Field(json_schema_extra={"maxLength": NOTE_LIMIT})]
FeedbackAction = Literal["dismiss", "join", "undo"]


class OwnerWordRefusedError(ParameterTypeError):
    """The owner's word was refused before anything was stored; the message says why.

    A :class:`~prefect.exceptions.ParameterTypeError`: the failure hook pages nobody for
    it, as for parameters the Run form refused (nothing was done; the run shows why).
    """


class OwnerFeedbackResult(BaseModel):
    """What a run did: the word, whether this run stored it, and what is now in force."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    word: OwnerWord
    stored: bool
    in_force: Feedback


def _word_id() -> str:
    """This run's id (a retried write finds it and stores nothing again); outside a run, a
    fresh one."""
    from prefect.runtime import flow_run

    return str(flow_run.id or uuid.uuid4())


def _cell(text: str) -> str:
    """An owner's text in a markdown table cell: escaped, ``|`` too."""
    return markdown_escape(text).replace("|", "\\|") if text else "-"


def in_force_markdown(word: OwnerWord, stored: bool, in_force: Feedback) -> str:
    """The run's artifact: what this run did, then every word now in force (keys and notes
    are the owner's: markdown-escaped)."""
    did = {"dismiss": "Dismissed", "join": "Joined", "undo": "Took back the word on"}[word.action]
    lines = [f"# The owner's word: {did.lower()} a theme", ""]
    shown = f"{did} `{_cell(word.theme)}`"
    if word.action == "join":
        shown += f" into `{_cell(word.into)}`"
    lines.append(shown + ("." if stored else " (stored by an earlier try of this run)."))
    if word.note:
        lines.append(f"Note: {_cell(word.note)}")
    lines += [
        "",
        "Every report from now on, and every regeneration, applies what is in force:",
        "",
    ]
    if not in_force.words:
        lines.append(
            "Nothing is in force: every theme is grouped and advised as the report finds it."
        )
        return "\n".join(lines) + "\n"
    lines += ["| theme key | word | into | note | since |", "|---|---|---|---|---|"]
    for key, current in in_force.words.items():
        lines.append(
            f"| {_cell(key)} | {current.action} | {_cell(current.into)} | "
            f"{_cell(current.note)} | {_cell(current.at)} |"
        )
    return "\n".join(lines) + "\n"


def _refused(message: str) -> State[Any]:
    """The run ends Failed with the reason, nothing stored, no traceback, no alert."""
    get_run_logger().error("Refused, nothing stored: %s", message)
    error = OwnerWordRefusedError(f"Refused, nothing stored: {message}")
    return Failed(message=str(error), data=error)


@flow(
    name=FLOW_NAME,
    flow_run_name=dated_run_name(FLOW_NAME),
    persist_result=False,  # the owner's notes and keys: never in result storage
    timeout_seconds=timeout_seconds(FLOW_NAME),
    **FLOW_HOOKS,
)
def owner_feedback(
    theme: ThemeKey,
    action: FeedbackAction,
    into: IntoKey = "",
    note: Note = "",
) -> OwnerFeedbackResult:
    """Overrule the weekly report's grouping or advice for one theme, from now on.

    Args:
        theme: The theme key as the e-mail and the themes table show it, intent:topic,
            e.g. compensation:pay or skills:kafka (at most 300 characters).
        action: dismiss (no longer a gap in the advice; listed at the end of the e-mail),
            join (group the theme into the theme named by into) or undo (take back the
            theme's dismissal or join).
        into: For join only: the key of the theme to group this one into, e.g.
            compensation:pay. Leave it empty for dismiss and undo.
        note: Why, in a line (at most 300 characters), e.g. I will not state a salary.
            The e-mail shows it beside a dismissed gap.
    """
    try:
        word = owner_word(theme, action, into, note, at=datetime.now(UTC).strftime(AT_FORMAT))
    except FeedbackError as exc:
        return _refused(str(exc))  # type: ignore[return-value]  # ends the run Failed
    logger = get_run_logger()
    settings = Settings()
    current = current_feedback_task(settings.feedback_table)
    refusal = current.refusal(word)
    if refusal is not None:
        return _refused(refusal)  # type: ignore[return-value]  # ends the run Failed
    recorded = record_word_task(settings.feedback_table, word, _word_id())
    in_force = current_feedback_task(settings.feedback_table)
    create_markdown_artifact(
        key=run_artifact_key(FLOW_NAME, 1, "in-force"),
        markdown=in_force_markdown(word, recorded.stored, in_force),
        description="The owner's word stored by this run, and every word now in force",
    )
    logger.info(
        "The owner's word (%s) is %s; %d word(s) in force",
        word.action,
        "stored" if recorded.stored else "already stored by an earlier try",
        len(in_force.words),
    )
    return OwnerFeedbackResult(word=word, stored=recorded.stored, in_force=in_force)
