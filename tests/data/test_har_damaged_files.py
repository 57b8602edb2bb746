"""Damaged UCI HAR downloads and folders (fwlab/data/har.py) give a clear error and leave
the cache as it was."""

from __future__ import annotations

import os
import zipfile

import pytest

from fwlab.data import (
    DataFileError,
    load_har2,
    read_uci_har,
)
from fwlab.data.har import UCI_HAR_ZIPNAME, download_uci_har
from tests.data.test_har import N as HAR_N
from tests.data.test_har import uci_files, wrapper_bytes, zip_bytes


# ------------------------------------------------------------------------ corrupt UCI HAR zips
@pytest.fixture(scope="module")
def har_files():
    return uci_files()


def _replace(files: dict[str, bytes], rel: str, data: bytes) -> dict[str, bytes]:
    return {**files, rel: data}


_SIGNAL = "train/Inertial Signals/body_acc_x_train.txt"


def _nan_in_row_3(data: bytes) -> bytes:
    lines = data.split(b"\n")
    values = lines[2].split()
    values[7] = b"nan"
    lines[2] = b"  " + b"  ".join(values)
    return b"\n".join(lines)


HAR_DAMAGE = [
    (
        "half",
        lambda f: zip_bytes(f)[: len(zip_bytes(f)) // 2],
        r"not a valid zip archive .*Delete it and run download_uci_har\(\)",
    ),
    ("empty", lambda f: b"", r"not a valid zip archive"),
    ("html", lambda f: b"<html>503 Service Unavailable</html>", r"not a valid zip archive"),
    (
        "wrapper-with-cut-inner",
        lambda f: wrapper_bytes(zip_bytes(f)[:5000]),
        r"UCI HAR Dataset\.zip!UCI HAR Dataset\.zip is not a valid zip archive .*Delete",
    ),
    (
        "binary-member",
        lambda f: zip_bytes(_replace(f, "test/y_test.txt", bytes(range(256)))),
        r"y_test\.txt is not a text file \(byte 128 is not ASCII\).*re-download",
    ),
    (
        "nan-value",
        lambda f: zip_bytes(_replace(f, _SIGNAL, _nan_in_row_3(f[_SIGNAL]))),
        r"body_acc_x_train\.txt, line 3: a value is NaN or infinite.*re-download",
    ),
    (
        "not-a-number",
        lambda f: zip_bytes(_replace(f, _SIGNAL, f[_SIGNAL].replace(b"e-", b"x-", 1))),
        r"body_acc_x_train\.txt: a value is not a number .*re-download",
    ),
    (
        "empty-member",
        lambda f: zip_bytes(_replace(f, "test/y_test.txt", b"")),
        r"y_test\.txt is empty\. Re-extract or re-download",
    ),
]


@pytest.mark.parametrize(
    ("damage", "match"), [c[1:] for c in HAR_DAMAGE], ids=[c[0] for c in HAR_DAMAGE]
)
def test_damaged_uci_har_zip_gives_a_clear_error_and_stays_as_it_was(
    tmp_path, har_files, damage, match
):
    cached = tmp_path / UCI_HAR_ZIPNAME
    payload = damage(har_files)
    cached.write_bytes(payload)
    with pytest.raises(DataFileError, match=match):
        load_har2(tmp_path)
    with pytest.raises(DataFileError, match=match):
        load_har2(tmp_path, download=True)  # a present zip is reported, not silently replaced
    assert os.listdir(tmp_path) == [UCI_HAR_ZIPNAME] and cached.read_bytes() == payload


def test_damaged_har_folder_file_is_named(tmp_path, har_files):
    from tests.data.test_har import write_folder

    folder = write_folder(tmp_path, _replace(har_files, _SIGNAL, b"\xff\xfe" + har_files[_SIGNAL]))
    with pytest.raises(DataFileError, match=r"body_acc_x_train\.txt is not a text file"):
        read_uci_har(folder)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99])
def test_truncated_download_leaves_the_cache_empty(tmp_path, har_files, cut):
    payload = zip_bytes(har_files)
    src = tmp_path / "server.zip"
    src.write_bytes(payload[: int(len(payload) * cut)])
    cache = tmp_path / "cache"
    with pytest.raises(DataFileError, match="not a valid zip archive"):
        download_uci_har(cache, url=src.as_uri(), sha256=None)
    assert os.listdir(cache) == []
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_har2(cache)  # the failed download left nothing that looks like a dataset
    # the full file then downloads and loads
    src.write_bytes(payload)
    download_uci_har(cache, url=src.as_uri(), sha256=None)
    assert len(load_har2(cache).train) == HAR_N["train"]


def test_har_zip_with_a_crc_error_in_a_signal_member(tmp_path, har_files):
    data = bytearray(zip_bytes(har_files, compression=zipfile.ZIP_STORED))
    i = bytes(data).index(har_files[_SIGNAL][:200]) + 50
    data[i] = ord("7") if data[i] != ord("7") else ord("8")
    p = tmp_path / UCI_HAR_ZIPNAME
    p.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=r"body_acc_x_train\.txt is corrupt .*Delete the zip"):
        load_har2(tmp_path)
