"""fwlab/runs/kernel_launcher.py and its kernelspec (fwlab/runs/jupyter_kernel.py's
register_kernel): the ``fwlab`` kernel is ipykernel's kernel, started without jsonschema's IRI
grammar, with the notebook's folder importable as in any kernel."""

import json
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager

import fwlab.runs.jupyter_kernel as jk
from fwlab.runs.jupyter_kernel import LAUNCHER, kernel_argv, register_kernel

TAIL = ["-m", LAUNCHER, "-f", "{connection_file}"]


def test_register_kernel_writes_ipykernels_spec_with_the_launcher(tmp_path):
    folder = register_kernel("fwlab-test", prefix=tmp_path)
    assert folder == tmp_path / "share" / "jupyter" / "kernels" / "fwlab-test"
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["argv"] == [sys.executable, "-Xfrozen_modules=off", *TAIL]
    assert spec["display_name"] == "Python (fwlab)" and spec["language"] == "python"
    assert (folder / "logo-64x64.png").is_file()
    # registering again replaces the kernel (an older spec ran ipykernel_launcher)
    (folder / "kernel.json").write_text(json.dumps({**spec, "argv": ["python", "old"]}))
    assert register_kernel("fwlab-test", prefix=tmp_path) == folder
    assert json.loads((folder / "kernel.json").read_text())["argv"][-4:] == TAIL
    found = KernelSpecManager(kernel_dirs=[str(folder.parent)]).get_kernel_spec("fwlab-test")
    assert found.argv[-4:] == TAIL


def test_an_unexpected_ipykernel_command_is_refused_not_half_rewritten(tmp_path, monkeypatch):
    import ipykernel.kernelspec

    real = ipykernel.kernelspec.make_ipkernel_cmd
    monkeypatch.setattr(ipykernel.kernelspec, "make_ipkernel_cmd",
                        lambda *a, **k: [*real(*a, **k), "--extra"])  # fmt: skip
    with pytest.raises(RuntimeError, match="unexpected kernel command"):
        register_kernel("fwlab-odd", prefix=tmp_path)


def test_kernel_argv_is_ipykernels_command_with_the_launcher_module():
    assert kernel_argv("py") == ["py", *TAIL]
    assert kernel_argv("py", ["-X", "y"]) == ["py", "-X", "y", *TAIL]


@pytest.mark.timeout(120)
def test_the_fwlab_kernel_runs_cells_without_the_iri_grammar(tmp_path):
    """The checkout's kernel (bash .ci/setup registered it): a cell runs; nbformat imports
    without building the IRI grammar; the notebook's folder is importable, as in any kernel."""
    from jupyter_client.manager import start_new_kernel

    spec = KernelSpecManager().get_kernel_spec(jk.DEFAULT_KERNEL)
    assert spec.argv[-4:] == TAIL, "run `bash .ci/setup` to register the kernel anew"
    (tmp_path / "local_module.py").write_text("VALUE = 42\n")
    km, kc = start_new_kernel(kernel_name=jk.DEFAULT_KERNEL, cwd=str(tmp_path))
    try:
        code = (
            "import nbformat, sys, local_module\n"
            "print(sys.modules['rfc3987_syntax'], local_module.VALUE, nbformat.__name__)"
        )
        out = []
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(m))
        assert reply["content"]["status"] == "ok", reply["content"]
        text = "".join(m["content"].get("text", "") for m in out if m["msg_type"] == "stream")
        assert text == "None 42 nbformat\n"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert Path(spec.resource_dir, "kernel.json").is_file()
