"""fwlab.train.history: save and load round-trip; damaged files fail naming the path."""

from __future__ import annotations

import math

import pytest

from fwlab.train.history import HISTORY, load_history, save_history


def test_load_history_returns_what_save_history_wrote_nan_and_inf_included(tmp_path):
    history = {"train": {"loss": [1.5, math.nan]}, "eval": {}, "optimizer": {}, "summary": {}}
    history["summary"]["best"] = math.inf
    loaded = load_history(save_history(history, tmp_path / HISTORY))
    assert loaded["train"]["loss"][0] == 1.5 and math.isnan(loaded["train"]["loss"][1])
    assert loaded["summary"] == {"best": math.inf}


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        (None, FileNotFoundError, "history.json"),
        ("{trunc", ValueError, r"history.json' is not a history \(not JSON: "),
        ("[1, 2]", ValueError, r"is not a fwlab history: it needs the keys \['train', 'eval'"),
        ('{"train": {}}', ValueError, "is not a fwlab history"),
    ],
)
def test_load_history_refuses_a_missing_or_damaged_file_in_one_line_naming_it(
    tmp_path, text, error, match
):
    path = tmp_path / HISTORY
    if text is not None:
        path.write_text(text)
    with pytest.raises(error, match=match) as info:
        load_history(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
