"""The `fwlab` command wiring (fwlab/app/cli.py, fwlab/util/argtypes.py, fwlab/app/lab.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

from fwlab.app.cli import COMMANDS, load_command, main
from fwlab.app.lab import lab_command


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_every_subcommand_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"Usage: fwlab {name} ") and COMMANDS[name][0].split()[0] in out
        assert "--debug" in out and "-h, --help" in out


def test_lab_command_line_as_root_and_not():
    root = lab_command(Path("/x/notebooks"), [], is_root=True)
    user = lab_command(Path("/x/notebooks"), ["--port", "9999"], is_root=False)
    assert root[:4] == [sys.executable, "-m", "jupyter", "lab"]
    assert "--LabApp.default_url=/lab/tree/01_trust_region_playground.ipynb" in root
    assert f"--LabApp.workspaces_dir={Path(sys.prefix)}/share/jupyter/lab/fwlab-workspaces" in user
    assert "--allow-root" in root and "--allow-root" not in user
    assert "--LabApp.news_url=None" in root and user[-2:] == ["--port", "9999"]


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "fwlab.app.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("Usage: fwlab [--debug] COMMAND")


def test_lab_passes_unknown_options_to_jupyter(monkeypatch):
    import fwlab.app.lab

    seen = []
    monkeypatch.setattr(fwlab.app.lab.subprocess, "call", lambda cmd: seen.append(cmd) or 0)
    assert main(["lab", "--no-browser", "--port", "8899"]) == 0
    assert seen[0][-3:] == ["--no-browser", "--port", "8899"]
    assert "--LabApp.default_url=/lab/tree/01_trust_region_playground.ipynb" in seen[0]


def test_other_commands_still_reject_unknown_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--no-such-option"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_a_command_whose_extra_is_missing_says_so_and_the_others_work(
    monkeypatch, capsys, tmp_path
):
    import fwlab.app.cli as cli

    (tmp_path / "needs_voila.py").write_text("import voila\ncommand = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "voila", None)  # as if not installed
    monkeypatch.setitem(cli.COMMANDS, "present", ("serve a notebook", "needs_voila:command"))
    with pytest.raises(SystemExit) as exc:
        main(["present"])
    assert exc.value.code == 2
    assert "'present' is not available in this installation (voila is not installed)" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as exc:
        main(["notebooks", "--help"])
    assert exc.value.code == 0


def test_a_missing_fwlab_module_is_not_hidden(monkeypatch):
    import fwlab.app.cli as cli

    monkeypatch.setitem(cli.COMMANDS, "present", ("serve a notebook", "fwlab.gone:command"))
    with pytest.raises(ModuleNotFoundError, match="fwlab.gone"):
        load_command("present")
    with pytest.raises(ModuleNotFoundError, match="fwlab.gone"):
        main(["present", "--help"])


def test_commands_that_do_not_train_start_without_torch():
    """`import fwlab` and the commands that do not train load no torch (about 2 s of CPU per
    process: `fwlab run`, `fwlab sweep` and their workers start many); `fwlab.FrankWolfe` and
    the other re-exports still work, imported on first use."""
    code = (
        "import sys, contextlib, io\n"
        "import fwlab, fwlab.app.cli\n"
        "for argv in (['--help'], ['run', '--help'], ['sweep', '--help'], ['present', '--help'],\n"
        "             ['lab', '--help'], ['notebooks', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        fwlab.app.cli.main(argv)\n"
        "print('torch' in sys.modules)\n"
        "print(fwlab.FrankWolfe.__module__, 'torch' in sys.modules, 'record' in dir(fwlab))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["False", "fwlab.optim.frank_wolfe True True"]
    with pytest.raises(AttributeError, match="module 'fwlab' has no attribute 'nothing'"):
        import fwlab

        fwlab.nothing  # noqa: B018


def test_help_imports_no_command_module():
    """`fwlab --help` lists every command from the table alone (click's lazy sub-commands)."""
    code = (
        "import sys, contextlib, io\n"
        "import fwlab.app.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    fwlab.app.cli.main(['--help'])\n"
        "modules = {t.partition(':')[0] for _, t in fwlab.app.cli.COMMANDS.values()}\n"
        "print(sorted(m for m in modules if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "argv, line",
    [
        ([], "fwlab: error: the following arguments are required: COMMAND; see 'fwlab --help'"),
        (["--debug"], "fwlab: error: the following arguments are required: COMMAND"),
        (["record", "adding-paper"], "fwlab record: error: the following arguments are "
         "required: --runs; see 'fwlab record --help'"),
        (["notebooks", "a", "b"], "fwlab notebooks: error: unrecognized arguments: b"),
        (["train", "--K"], "fwlab train: error: argument --K: expected one argument"),
        (["bench", "--only"], "fwlab bench: error: argument --only: expected at least one "
         "argument"),
        (["reproduce", "--table", "4"], "fwlab reproduce: error: argument --table: invalid "
         "choice: '4' (choose from 2, 3)"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_line_naming_the_problem(argv, line, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and len(err.splitlines()) == 1


def test_debug_is_taken_before_and_after_the_command(monkeypatch, capsys):
    import fwlab.util.notebook_dir

    def fail(dest, force):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fwlab.util.notebook_dir, "copy_notebooks", fail)
    monkeypatch.delenv("FWLAB_DEBUG", raising=False)
    assert main(["notebooks", "d"]) == 1
    assert "disk on fire" in capsys.readouterr().err
    for argv in (["--debug", "notebooks", "d"], ["notebooks", "d", "--debug"]):
        with pytest.raises(RuntimeError, match="disk on fire"):
            main(argv)


def test_ctrl_c_while_a_command_loads_ends_in_one_line(
    monkeypatch, tmp_path, capsys, interactive_sigint
):
    """(interactive_sigint: under a background job SIGINT is ignored and the import goes on.)"""
    import fwlab.app.cli as cli

    (tmp_path / "slow_start.py").write_text(
        "import os, signal, click\nos.kill(os.getpid(), signal.SIGINT)\n"
        "command = click.Command('present')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "present", ("serve a notebook", "slow_start:command"))
    monkeypatch.delenv("FWLAB_DEBUG", raising=False)
    assert main(["present"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("fwlab present: interrupted (Ctrl-C) while the command was starting")


SECOND_CTRL_C = """
import atexit, os, signal, sys
import fwlab.runs.study as study
from fwlab.app.cli import run

where, line = sys.argv[1], sys.argv[2]


def second_ctrl_c():  # a real SIGINT, taken by the handler in place at the next instruction
    os.kill(os.getpid(), signal.SIGINT)


def interrupted_study(self, **kwargs):  # a study the first Ctrl-C stopped: its Interrupted
    try:
        raise study.Interrupted(line, study.Outcome([]))
    finally:  # on its way up to the command, past the engine's handler
        if where == "raised":
            second_ctrl_c()


class Stderr:  # the second Ctrl-C while the command's line is being written
    def __init__(self, stream):
        self.stream, self.pressed = stream, False

    def write(self, text):
        if not self.pressed:
            self.pressed = True
            second_ctrl_c()
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Finalized:  # the second Ctrl-C while the interpreter shuts down, after atexit
    def __del__(self):
        second_ctrl_c()


study.Study.run = interrupted_study
if where == "writing":
    sys.stderr = Stderr(sys.stderr)
elif where == "atexit":
    atexit.register(second_ctrl_c)
elif where == "finalizing":
    kept = Finalized()
sys.argv = ["fwlab", "sweep", *sys.argv[3:]]
run()
"""


@pytest.mark.parametrize("where", ["nowhere", "raised", "writing", "atexit", "finalizing"])
def test_a_second_ctrl_c_while_an_interrupted_command_ends_changes_nothing(tmp_path, where):
    """The first Ctrl-C stopped the study (fwlab.runs.Interrupted); a second one that lands
    after the engine has put Python's handler back (on the way up, while the line is written,
    in atexit, while the interpreter shuts down) neither replaces the line nor adds a
    traceback nor ends the process by SIGINT: one line, exit status 130."""
    from tests.notebook_tools import write_parameterized_notebook
    from tests.process_tools import interactive_sigint

    write_parameterized_notebook(tmp_path / "target.ipynb", "x = 1")
    line = "interrupted (Ctrl-C): 0 of 2 runs done, 2 interrupted (x=1, x=2); `fwlab sweep` resumes"
    argv = [sys.executable, "-c", SECOND_CTRL_C, where, line, str(tmp_path / "target.ipynb"),
            "--grid", "x=1,2", "--out", str(tmp_path / "out")]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          preexec_fn=interactive_sigint)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (130, f"fwlab sweep: {line}\n")
