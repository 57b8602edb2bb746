"""fwlab/runs/jupyter_kernel.py: the kernel ``fwlab run`` needs, registered when missing, and the
one-line fix when ipykernel is not installed (the registration itself, in a fresh venv, is in
tests/e2e/test_install.py)."""

import sys

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

import fwlab.runs.jupyter_kernel as jk
from fwlab.app.cli import main
from fwlab.runs import DEFAULT_KERNEL as SWEEP_DEFAULT

FIX = f"{sys.executable} -m pip install 'fwlab[lab]'"


def test_the_default_kernel_is_the_one_the_runner_uses():
    assert jk.DEFAULT_KERNEL == SWEEP_DEFAULT == "fwlab"
    assert jk.ensure_kernel() == "fwlab"  # this checkout's .venv has it (bash .ci/setup)


def test_an_unknown_kernel_name_says_how_to_choose_one(capsys):
    with pytest.raises(ValueError, match="no Jupyter kernel named 'nope-x': pass --kernel"):
        jk.ensure_kernel("nope-x")
    assert main(["run", "01", "--kernel", "nope-x"]) == 2
    assert "no Jupyter kernel named 'nope-x'" in capsys.readouterr().err


def test_without_ipykernel_the_error_is_one_line_with_a_fix_that_works(monkeypatch, capsys):
    real = jk.importlib.util.find_spec
    monkeypatch.setattr(
        jk.importlib.util, "find_spec", lambda n, *a: None if n == "ipykernel" else real(n, *a)
    )
    # the kernel "fwlab" of this .venv runs this Python, which now "has" no ipykernel
    with pytest.raises(ValueError) as err:
        jk.ensure_kernel()
    assert str(err.value) == (
        f"the Jupyter kernel 'fwlab' runs this Python, which has no ipykernel: {FIX}"
    )

    def no_kernel(self, name):
        raise NoSuchKernel(name)

    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", no_kernel)
    with pytest.raises(ValueError) as err:
        jk.ensure_kernel()
    assert str(err.value) == (
        f"the notebooks need a Jupyter kernel and ipykernel is not installed: {FIX}"
    )
    assert main(["run", "01"]) == 2
    assert capsys.readouterr().err == f"fwlab run: error: {err.value}\n"


def test_a_missing_fwlab_kernel_is_registered_for_this_python(monkeypatch, capsys, tmp_path):
    def no_kernel(self, name):
        raise NoSuchKernel(name)

    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", no_kernel)
    registered = []
    monkeypatch.setattr(
        jk, "register_kernel", lambda name: registered.append(name) or tmp_path / name
    )
    assert jk.ensure_kernel() == "fwlab" and registered == ["fwlab"]
    assert capsys.readouterr().err == (
        f"fwlab: registered the Jupyter kernel 'fwlab' in {tmp_path / 'fwlab'}\n"
    )


def test_missing_lab_names_the_extra_packages(monkeypatch):
    assert jk.missing_lab() == []
    real = jk.importlib.util.find_spec
    monkeypatch.setattr(
        jk.importlib.util, "find_spec", lambda n, *a: None if n == "anywidget" else real(n, *a)
    )
    assert jk.missing_lab() == ["anywidget"]
