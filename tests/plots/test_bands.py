"""Tests of fwlab/plots/bands.py: mean and min..max spread across seeds."""

from __future__ import annotations

import numpy as np
import pytest

from fwlab.plots.bands import seed_band


def _h(steps, values, key="test_loss"):
    return {"eval": {"step": steps, key: values}}


def test_band_is_mean_min_max():
    b = seed_band({0: _h([1, 2], [1.0, 4.0]), 1: _h([1, 2], [3.0, 2.0]), 2: _h([1, 2], [2.0, 0.0])})
    assert b["n"] == 3
    np.testing.assert_allclose(b["mean"], [2.0, 2.0])
    np.testing.assert_allclose(b["lo"], [1.0, 0.0])
    np.testing.assert_allclose(b["hi"], [3.0, 4.0])
    assert np.all(b["lo"] <= b["mean"]) and np.all(b["mean"] <= b["hi"])


def test_different_steps_are_interpolated_on_the_common_range():
    b = seed_band({0: _h([0, 10, 20, 30], [0.0, 1.0, 2.0, 3.0]), 1: _h([5, 25], [5.0, 25.0])})
    assert b["x"].tolist() == [10.0, 20.0]
    np.testing.assert_allclose(b["mean"], [(1 + 10) / 2, (2 + 20) / 2])


def test_missing_values_are_skipped_and_a_missing_series_is_an_error():
    b = seed_band({0: _h([1, 2, 3], [None, 0.5, float("nan")], key="test_acc")}, key="test_acc")
    assert b["x"].tolist() == [2.0] and b["mean"].tolist() == [0.5]
    with pytest.raises(ValueError, match="history has no series eval.test_acc"):
        seed_band({0: _h([1], [0.1])}, key="test_acc")
    with pytest.raises(ValueError, match="at least one seed"):
        seed_band({})


def test_a_seed_without_any_finite_value_is_left_out_and_named():
    from fwlab.plots.bands import band_note

    ok = {"eval": {"step": [1, 2, 3], "test_loss": [0.3, 0.2, 0.1]}}
    late = {"eval": {"step": [1, 2, 3], "test_loss": [0.5, 0.4, float("nan")]}}
    dead = {"eval": {"step": [1, 2, 3], "test_loss": [float("inf")] * 3}}
    b = seed_band({0: ok, 1: late, 7: dead}, "eval", "test_loss")
    assert b["n"] == 2 and b["dropped"] == [7] and b["nonfinite"] == 4
    assert b["x"].tolist() == [1.0, 2.0]  # ends where seed 1 stopped being finite
    assert band_note(b) == (
        "2 of 3 seeds; seed 7 left out: no finite value (diverged); 1 NaN/inf value of the "
        "others left out"
    )
