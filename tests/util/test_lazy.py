"""Tests of fwlab/util/lazy.py on the packages that use it: fwlab, fwlab.widgets,
fwlab.experiments."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys

import pytest

LAZY = ["fwlab", "fwlab.widgets", "fwlab.experiments"]


@pytest.mark.parametrize("name", LAZY)
def test_every_lazy_name_resolves_and_none_is_also_a_submodule(name):
    package = importlib.import_module(name)
    for export, module in package._EXPORTS.items():
        # a submodule of that name would be bound to it by its own import (fwlab.optim.lmo)
        assert importlib.util.find_spec(f"{name}.{export}") is None, export
        assert getattr(package, export) is getattr(importlib.import_module(module, name), export)
    assert set(package.__all__) == set(package._EXPORTS)
    assert set(package.__all__) <= set(dir(package))


def test_importing_the_packages_imports_no_torch():
    code = "import sys, fwlab, fwlab.widgets, fwlab.util.exponent; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
