"""The shipped topic model is what ``make train`` makes from the corpus (not in the pure
lane: it fits the model, ~35 s)."""

from __future__ import annotations

import json

import pytest

from benchmarks.train_insights import main


def test_retraining_reproduces_the_shipped_model(capsys: pytest.CaptureFixture[str]) -> None:
    """``make train --check``: the shipped topic_model.npz is what the corpus makes (~35 s;
    the one test that fits the model)."""
    assert main(["--check"]) == 0
    assert json.loads(capsys.readouterr().out)["reproduced"] is True
