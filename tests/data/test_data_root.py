"""The data cache's entry points (fwlab/data/sequence_data.py data_root, load_task): a file where
a folder is expected, a path of the wrong type, an unknown option or a non-bool ``download`` is a
``ValueError`` naming the argument, what was given and the fix, never an OSError from pathlib."""

from __future__ import annotations

import pytest

from fwlab.app.cli import main
from fwlab.data import data_root, default_data_root, load_task


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


def test_data_root_defaults_to_the_cache_and_accepts_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("FWLAB_DATA", str(tmp_path / "cache"))
    assert data_root() == default_data_root() == tmp_path / "cache"
    assert data_root(str(tmp_path)) == tmp_path
    assert not (tmp_path / "cache").exists()  # checking creates nothing


@pytest.mark.parametrize("task", ["pixel_mnist", "permuted_mnist", "har2", "noisy_har2"])
def test_fwlab_data_that_is_a_file_is_named(task, a_file, monkeypatch):
    monkeypatch.setenv("FWLAB_DATA", str(a_file))
    with pytest.raises(ValueError, match=rf"\$FWLAB_DATA {a_file} cannot be a data folder: "
                       rf"{a_file} is a file; pass another root \(or set \$FWLAB_DATA to "
                       r"a folder\), or move that file elsewhere"):  # fmt: skip
        load_task(task)
    assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize("below", ["", "deeper/still"])
def test_root_under_a_file_is_named(a_file, below):
    root = a_file / below if below else a_file
    with pytest.raises(ValueError, match=rf"root {root} cannot be a data folder: {a_file} is a"):
        load_task("pixel_mnist", root=root)


def test_a_file_inside_the_cache_is_named(tmp_path):
    (tmp_path / "mnist-offline").write_text("x")
    with pytest.raises(ValueError, match=r"offline MNIST folder .*mnist-offline is a file"):
        load_task("pixel_mnist", root=tmp_path)


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("pixel_mnist", {"root": 3}, r"root must be a folder path .* or None, got int 3"),
        ("har2", {"root": b"/tmp"}, r"root must be a folder path .*got bytes"),
        ("pixel_mnist", {"download": "yes"}, r"download must be True or False, got 'yes'"),
        ("har2", {"download": 1}, r"download must be True or False, got 1"),
        ("adding", {"foo": 1}, r"load_task\('adding'\) has no option 'foo'; its options are "
         r"seq_len, n_train, n_test, seed"),
        ("adding", {"seq_len": "100"}, r"seq_len must be an integer >= 2, got '100'"),
    ],
)  # fmt: skip
def test_wrong_option_types_name_the_option(name, options, match):
    with pytest.raises(ValueError, match=match):
        load_task(name, **options)


def test_fwlab_train_with_a_file_as_data_root_exits_2(a_file, capsys):
    argv = ["train", "--task", "pixel_mnist", "--data-root", str(a_file), "--steps", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"root {a_file} cannot be a data folder" in err and "Traceback" not in err
