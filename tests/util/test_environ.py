"""fwlab.util.environ: variables set (or unset) inside, each restored after, errors included."""

from __future__ import annotations

import os

import pytest

from fwlab.util.environ import temporary_environ


def test_temporary_environ_sets_and_unsets_inside_and_restores_after_an_error(monkeypatch):
    monkeypatch.setenv("FWLAB_TEST_KEPT", "old")
    monkeypatch.setenv("FWLAB_TEST_UNSET", "there")
    monkeypatch.delenv("FWLAB_TEST_NEW", raising=False)
    values = {"FWLAB_TEST_KEPT": "new", "FWLAB_TEST_UNSET": None, "FWLAB_TEST_NEW": "1"}
    with pytest.raises(RuntimeError, match="inside"), temporary_environ(values):
        assert os.environ["FWLAB_TEST_KEPT"] == "new" and os.environ["FWLAB_TEST_NEW"] == "1"
        assert "FWLAB_TEST_UNSET" not in os.environ
        raise RuntimeError("inside")
    assert (os.environ["FWLAB_TEST_KEPT"], os.environ["FWLAB_TEST_UNSET"]) == ("old", "there")
    assert "FWLAB_TEST_NEW" not in os.environ
