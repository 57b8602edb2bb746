"""Tests of fwlab/data/har.py on a small fake UCI HAR dataset written in the official on-disk
format (folder, zip and the UCI site's wrapper zip); downloads use file:// URLs, never network."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import fwlab.data.har as har
from fwlab.data import (
    DataFileError,
    download_uci_har,
    har2_labels,
    load_har2,
    load_noisy_har2,
    load_task,
    read_uci_har,
)
from fwlab.data.har import INERTIAL_SIGNALS, UCI_HAR_DIRNAME, UCI_HAR_ZIPNAME

N = {"train": 30, "test": 12}


def fake_signals(split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 128, 9) signals with channel-specific scale/offset and labels cycling through 1..6."""
    rng = np.random.default_rng(seed)
    n = N[split]
    scale = np.linspace(0.1, 2.0, 9)
    offset = np.linspace(-1.0, 1.0, 9)
    x = rng.standard_normal((n, 128, 9)) * scale + offset
    y = np.array([(i % 6) + 1 for i in range(n)])
    return x, y


def uci_files(seed: int = 0) -> dict[str, bytes]:
    """Relative path -> file bytes, formatted like the official files ("  1.8085150e-004 ...")."""
    files = {"activity_labels.txt": b"1 WALKING\n2 WALKING_UPSTAIRS\n3 WALKING_DOWNSTAIRS\n"
             b"4 SITTING\n5 STANDING\n6 LAYING\n"}  # fmt: skip
    for k, split in enumerate(("train", "test")):
        x, y = fake_signals(split, seed + k)
        for c, name in enumerate(INERTIAL_SIGNALS):
            lines = ["  " + "  ".join(_uci_float(v) for v in row) for row in x[:, :, c]]
            files[f"{split}/Inertial Signals/{name}_{split}.txt"] = (
                "\n".join(lines) + "\n"
            ).encode()
        files[f"{split}/y_{split}.txt"] = "".join(f"{v}\n" for v in y).encode()
        files[f"{split}/subject_{split}.txt"] = b"1\n" * N[split]
    return files


def _uci_float(v: float) -> str:
    mantissa, exp = f"{v:.7e}".split("e")
    return f"{mantissa}e{int(exp):+04d}"  # 3-digit exponent as in the UCI files


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    folder = root / UCI_HAR_DIRNAME
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def zip_bytes(files: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        z.writestr(f"{UCI_HAR_DIRNAME}/", b"")
        for rel, data in files.items():
            z.writestr(f"{UCI_HAR_DIRNAME}/{rel}", data)
            z.writestr(f"__MACOSX/{UCI_HAR_DIRNAME}/._{Path(rel).name}", b"junk")
    return buf.getvalue()


def wrapper_bytes(inner: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("UCI HAR Dataset.names", b"readme")
        z.writestr(UCI_HAR_ZIPNAME, inner)
    return buf.getvalue()


@pytest.fixture(scope="module")
def files():
    return uci_files()


@pytest.fixture
def folder(tmp_path, files):
    return write_folder(tmp_path, files)


@pytest.fixture
def zip_path(tmp_path, files):
    p = tmp_path / UCI_HAR_ZIPNAME
    p.write_bytes(zip_bytes(files))
    return p


# --------------------------------------------------------------------------- reading
def test_read_folder_shape_channel_order_and_values(folder):
    splits = read_uci_har(folder)
    for split in ("train", "test"):
        x, y = splits[split]
        ref_x, ref_y = fake_signals(split, {"train": 0, "test": 1}[split])
        assert x.shape == (N[split], 128, 9) and x.dtype == np.float32
        assert y.dtype == np.int64
        np.testing.assert_allclose(x, ref_x, rtol=1e-6, atol=1e-6)  # channel c = file c
        np.testing.assert_array_equal(y, ref_y)


def test_folder_parent_zip_and_wrapper_give_the_same_arrays(tmp_path, folder, files):
    ref = read_uci_har(folder)
    zp = tmp_path / "copy.zip"
    zp.write_bytes(zip_bytes(files))
    wp = tmp_path / "wrapper.zip"
    wp.write_bytes(wrapper_bytes(zip_bytes(files)))
    for source in (folder.parent, zp, wp):
        got = read_uci_har(source)
        for split in ("train", "test"):
            np.testing.assert_array_equal(got[split][0], ref[split][0])
            np.testing.assert_array_equal(got[split][1], ref[split][1])


def test_har2_label_merge_follows_fastgrnn():
    # 1 WALKING, 2 UPSTAIRS, 3 DOWNSTAIRS, 4 SITTING, 5 STANDING, 6 LAYING
    assert har2_labels(np.arange(1, 7)).tolist() == [0, 1, 0, 1, 0, 1]
    assert har.ACTIVITIES[4] == "SITTING" and har.ACTIVITIES[6] == "LAYING"
    with pytest.raises(ValueError, match="1..6"):
        har2_labels(np.array([0, 1]))


def test_load_har2_normalizes_with_training_statistics(tmp_path, zip_path):
    d = load_har2(tmp_path)
    assert (d.name, d.task, d.n_classes, d.seq_len, d.input_size) == ("har2", "classification",
                                                                        2, 128, 9)  # fmt: skip
    x_tr, y_tr = d.train.tensors
    x_te, y_te = d.test.tensors
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    flat = x_tr.reshape(-1, 9).double()
    torch.testing.assert_close(flat.mean(0), torch.zeros(9, dtype=torch.float64), atol=1e-5,
                               rtol=0)  # fmt: skip
    torch.testing.assert_close(flat.std(0, unbiased=False), torch.ones(9, dtype=torch.float64),
                               atol=1e-5, rtol=0)  # fmt: skip
    raw = read_uci_har(zip_path)
    raw_tr = torch.from_numpy(raw["train"][0]).double().reshape(-1, 9)
    mean, std = raw_tr.mean(0), raw_tr.std(0, unbiased=False)
    expected_te = (torch.from_numpy(raw["test"][0]).double() - mean) / std  # train stats
    torch.testing.assert_close(x_te.double(), expected_te, atol=1e-5, rtol=0)
    assert not torch.allclose(x_te.reshape(-1, 9).mean(0), torch.zeros(9), atol=1e-3)
    assert torch.equal(y_tr, har2_labels(raw["train"][1]))
    assert torch.equal(y_te, har2_labels(raw["test"][1]))
    np.testing.assert_allclose(d.info["mean"], mean.numpy(), rtol=1e-5)


def test_noisy_har2_noise_std_seed_and_both_splits(tmp_path, zip_path):
    clean = load_har2(tmp_path)
    noisy = load_noisy_har2(tmp_path, seed=3)
    assert noisy.name == "noisy_har2" and noisy.info["noise_std"] == 2.0
    for split in ("train", "test"):
        eps = getattr(noisy, split).tensors[0] - getattr(clean, split).tensors[0]
        assert float(eps.std()) == pytest.approx(2.0, rel=0.03)  # std 2, not variance 2
        assert abs(float(eps.mean())) < 0.05
        assert torch.equal(getattr(noisy, split).tensors[1], getattr(clean, split).tensors[1])
    again = load_noisy_har2(tmp_path, seed=3)
    other = load_noisy_har2(tmp_path, seed=4)
    assert torch.equal(again.train.tensors[0], noisy.train.tensors[0])
    assert not torch.equal(other.train.tensors[0], noisy.train.tensors[0])
    paper = load_noisy_har2(tmp_path, noise_std=2**0.5)  # the paper's "variance of two"
    eps = paper.train.tensors[0] - clean.train.tensors[0]
    assert float(eps.var()) == pytest.approx(2.0, rel=0.05)
    with pytest.raises(ValueError, match="noise_std"):
        load_noisy_har2(tmp_path, noise_std=0.0)
    with pytest.raises(ValueError, match="noise_std"):
        load_har2(tmp_path, noise_std=-1.0)


def test_load_task_names(tmp_path, zip_path):
    assert load_task("har2", root=tmp_path).name == "har2"
    assert load_task("noisy_har2", root=tmp_path, noise_std=1.0).name == "noisy_har2"
    with pytest.raises(ValueError, match="name must be one of"):
        load_task("har6")


# --------------------------------------------------------------------------- corrupt input
def test_row_with_127_values_names_file_and_line(folder):
    p = folder / "train/Inertial Signals/body_gyro_y_train.txt"
    lines = p.read_text().splitlines()
    lines[4] = " ".join(lines[4].split()[:127])
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError, match=r"body_gyro_y_train\.txt, line 5: expected 128 "
                                            r"values, got 127"):  # fmt: skip
        read_uci_har(folder)


def test_truncated_file_in_zip_names_the_member(tmp_path, files):
    bad = dict(files)
    key = "test/Inertial Signals/total_acc_z_test.txt"
    cut = bad[key].index(b"\n", len(bad[key]) // 2) + 40
    bad[key] = bad[key][:cut]  # cut 40 bytes into a row
    p = tmp_path / "bad.zip"
    p.write_bytes(zip_bytes(bad))
    with pytest.raises(DataFileError, match=r"bad\.zip!UCI HAR Dataset/test/Inertial Signals/"
                                            r"total_acc_z_test\.txt, line \d+"):  # fmt: skip
        read_uci_har(p)


def test_label_problems(folder):
    y = folder / "train/y_train.txt"
    y.write_text("1\n" * (N["train"] - 1))
    with pytest.raises(DataFileError, match=r"y_train\.txt has 29 labels but the train signals"):
        read_uci_har(folder)
    y.write_text("7\n" * N["train"])
    with pytest.raises(DataFileError, match="1..6"):
        read_uci_har(folder)


def test_missing_file_and_mismatched_rows(folder):
    p = folder / "train/Inertial Signals/total_acc_x_train.txt"
    good = p.read_text()
    p.write_text("".join(good.splitlines(keepends=True)[:-3]))  # 3 whole rows lost
    with pytest.raises(DataFileError, match=r"total_acc_x_train\.txt has 27 rows, the other "
                                            r"train signal files have 30"):  # fmt: skip
        read_uci_har(folder)
    p.write_text(good)
    (folder / "test/Inertial Signals/body_acc_x_test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"body_acc_x_test\.txt"):
        read_uci_har(folder)


def test_zip_crc_error_and_non_zip(tmp_path, files):
    data = bytearray(zip_bytes(files, compression=zipfile.ZIP_STORED))
    needle = files["train/y_train.txt"]
    i = bytes(data).index(needle)
    data[i] = ord("2") if data[i] != ord("2") else ord("3")  # flip one stored byte
    p = tmp_path / "crc.zip"
    p.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=r"y_train\.txt is corrupt"):
        read_uci_har(p)
    junk = tmp_path / UCI_HAR_ZIPNAME
    junk.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataFileError, match="not a valid zip"):
        load_har2(tmp_path)


def test_incomplete_zip_names_the_missing_member(tmp_path, files):
    partial = {k: v for k, v in files.items() if k != "test/y_test.txt"}
    p = tmp_path / "partial.zip"
    p.write_bytes(zip_bytes(partial))
    with pytest.raises(DataFileError, match=r"no member 'UCI HAR Dataset/test/y_test\.txt'"):
        read_uci_har(p)


def test_not_found_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True") as e:
        load_har2(tmp_path)
    assert str(tmp_path / UCI_HAR_ZIPNAME) in str(e.value)
    assert "load_basicmotions" in str(e.value)


# --------------------------------------------------------------------------- download
def test_constants():
    assert har.UCI_HAR_URL == (
        "https://archive.ics.uci.edu/ml/machine-learning-databases/00240/UCI%20HAR%20Dataset.zip"
    )
    assert len(har.UCI_HAR_SHA256) == 64 and int(har.UCI_HAR_SHA256, 16) >= 0


def test_download_from_file_url_verifies_and_renames(tmp_path, files):
    src = tmp_path / "server" / "UCI%20HAR%20Dataset.zip"
    src.parent.mkdir()
    payload = zip_bytes(files)
    src.write_bytes(payload)
    cache = tmp_path / "cache"
    got = download_uci_har(cache, url=src.as_uri(), sha256=hashlib.sha256(payload).hexdigest())
    assert got == cache / UCI_HAR_ZIPNAME and got.read_bytes() == payload
    assert os.listdir(cache) == [UCI_HAR_ZIPNAME]  # no temp file left
    # an existing zip is kept: a second call does not touch the URL
    assert download_uci_har(cache, url="file:///nonexistent") == got
    d = load_har2(cache)
    assert d.train.tensors[0].shape == (N["train"], 128, 9)


def test_download_checksum_mismatch_leaves_nothing(tmp_path, files):
    src = tmp_path / "f.zip"
    src.write_bytes(zip_bytes(files))
    cache = tmp_path / "cache"
    with pytest.raises(DataFileError) as e:
        download_uci_har(cache, url=src.as_uri(), sha256="0" * 64)
    message = str(e.value)
    assert message.startswith(f"download from {src.as_uri()}: ") and "\n" not in message
    assert re.search(r"expected 0{64} but got [0-9a-f]{64}", message)
    assert message.endswith("pass sha256=None for a mirror you trust.")
    assert os.listdir(cache) == []


def test_download_arguments_are_checked_before_anything_is_written(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="sha256 must be 64 hexadecimal digits or None, got 'abc'"):
        download_uci_har(cache, url="file:///x.zip", sha256="abc")
    with pytest.raises(ValueError, match=r"url must start with one of https, http, ftp, file://"):
        download_uci_har(cache, url="gopher://example.org/x.zip")
    assert not cache.exists()


def test_download_interrupted_leaves_nothing(tmp_path):
    def downloader(url, output_file, pooch):
        with open(output_file, "wb") as f:
            f.write(b"x" * 5000)  # part of the file, then the connection drops
        raise ConnectionResetError("connection lost")

    cache = tmp_path / "cache"
    with pytest.raises(ConnectionResetError):
        download_uci_har(cache, downloader=downloader)
    assert os.listdir(cache) == []


def test_download_wrapper_is_unpacked_and_checked(tmp_path, files, monkeypatch):
    inner = zip_bytes(files)
    outer = wrapper_bytes(inner)
    monkeypatch.setattr(har, "UCI_HAR_SHA256", hashlib.sha256(inner).hexdigest())
    src = tmp_path / "wrapper.zip"
    src.write_bytes(outer)
    cache = tmp_path / "cache"
    got = download_uci_har(cache, url=src.as_uri(), sha256=hashlib.sha256(outer).hexdigest())
    assert got.read_bytes() == inner
    assert os.listdir(cache) == [UCI_HAR_ZIPNAME]
    # the inner zip is checked against UCI_HAR_SHA256: another one is refused, nothing kept
    monkeypatch.setattr(har, "UCI_HAR_SHA256", "f" * 64)
    with pytest.raises(
        DataFileError, match=f"its {UCI_HAR_ZIPNAME} has SHA-256 .*, expected f{{64}}"
    ):
        download_uci_har(
            tmp_path / "c2", url=src.as_uri(), sha256=hashlib.sha256(outer).hexdigest()
        )
    assert os.listdir(tmp_path / "c2") == []


def test_download_from_the_wrapper_url_checks_the_wrapper_hash(tmp_path, files, monkeypatch):
    outer = wrapper_bytes(zip_bytes(files))
    monkeypatch.setattr(har, "UCI_HAR_WRAPPER_SHA256", hashlib.sha256(outer).hexdigest())
    served = []

    def downloader(url, output_file, pooch):
        served.append(url)
        Path(output_file).write_bytes(outer)

    cache = tmp_path / "cache"
    # the wrapper passes its own hash (else pooch's mismatch would be raised); the test's inner
    # zip is then refused against the real dataset's SHA-256
    with pytest.raises(
        DataFileError, match=f"its {UCI_HAR_ZIPNAME} has SHA-256 .*, expected {har.UCI_HAR_SHA256}"
    ):
        download_uci_har(cache, url=har.UCI_HAR_WRAPPER_URL, downloader=downloader)
    assert served == [har.UCI_HAR_WRAPPER_URL] and os.listdir(cache) == []


def test_download_rejects_zip_without_the_dataset(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("something/else.txt", b"x")
    src = tmp_path / "other.zip"
    src.write_bytes(buf.getvalue())
    with pytest.raises(DataFileError, match="not the official UCI HAR zip"):
        download_uci_har(tmp_path / "cache", url=src.as_uri(), sha256=None)
    assert os.listdir(tmp_path / "cache") == []


def test_load_with_download_true_calls_the_downloader(tmp_path, files, monkeypatch):
    calls = []

    def fake_download(root):
        calls.append(root)
        p = Path(root) / UCI_HAR_ZIPNAME
        p.write_bytes(zip_bytes(files))
        return p

    monkeypatch.setattr(har, "download_uci_har", fake_download)
    d = load_har2(tmp_path, download=True)
    assert calls == [tmp_path] and len(d.test) == N["test"]
    load_har2(tmp_path, download=True)  # now present: no second download
    assert len(calls) == 1
