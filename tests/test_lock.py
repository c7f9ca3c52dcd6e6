"""Dataset locks and verified reads: pin a version to code, and prove the data is the same."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

import tablever as tv
from tests.conftest import make_batch

pytestmark = pytest.mark.storages  # each test on the local disk and on S3


def _lock(s: tv.Snapshot, tmp_path: Path, name: str = "data.lock") -> Path:
    path = tmp_path / name
    assert s.lock(path) == str(path)
    return path


def _edit(path: Path, **changes: Any) -> None:
    body = json.loads(path.read_text())
    body.update(changes)
    path.write_text(json.dumps(body))


def _flip_a_byte(root: str, rel: str, offset: int = 100) -> None:
    path = Path(root) / rel
    os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# --- round trip ---------------------------------------------------------------------------


def test_a_lock_round_trips(filled: tv.Table, tmp_path: Path) -> None:
    s = filled.delete("id = 3")
    path = _lock(s, tmp_path)
    body = json.loads(path.read_text())
    assert body["format"] == "tablever-lock/1"
    assert body["table"] == filled.location and body["version"] == s.version
    assert body["id"] == s.id and body["fingerprint"] == s.fingerprint
    assert body["rows"] == 19 and body["content_hash"] == s.content_hash
    assert body["tablever_version"] == tv.__version__
    assert len(body["schema_hash"]) == 64
    filled.append(make_batch([100]))  # the table moves on; the lock does not
    again = tv.from_lock(path)
    assert again.id == s.id and again.version == s.version
    assert again.to_arrow().equals(s.to_arrow())


@pytest.mark.disk
def test_a_moved_table_opens_with_location(filled: tv.Table, tmp_path: Path) -> None:
    path = _lock(filled.latest(), tmp_path)
    moved = tmp_path / "moved"
    shutil.copytree(filled.location, moved)
    shutil.rmtree(filled.location)
    with pytest.raises(tv.TableNotFoundError):
        tv.from_lock(path)
    assert tv.from_lock(path, location=str(moved)).num_rows == 20


# --- verified reads -------------------------------------------------------------------------


@pytest.mark.disk
def test_as_of_verify_names_a_data_file_with_a_flipped_byte(filled: tv.Table) -> None:
    s = filled.latest()
    assert filled.as_of(2, verify=True).id == s.id  # clean: passes
    bad = s.files[0]
    _flip_a_byte(filled.location, bad)
    with pytest.raises(tv.IntegrityError, match=bad.replace(".", r"\.")):
        filled.as_of(2, verify=True)
    with pytest.raises(tv.IntegrityError, match=bad.replace(".", r"\.")):
        filled.as_of(1, verify=True)  # version 1 holds the same file
    assert filled.as_of(2).id == s.id  # without verify the log alone is read


@pytest.mark.disk
def test_as_of_verify_checks_deletion_vectors_too(filled: tv.Table) -> None:
    s = filled.delete("id = 3")
    (dv,) = s.deletion_vectors
    _flip_a_byte(filled.location, dv.path, offset=20)
    with pytest.raises(tv.IntegrityError, match=dv.path.replace(".", r"\.")):
        filled.as_of(s.version, verify=True)


@pytest.mark.disk
def test_as_of_verify_names_a_missing_file(filled: tv.Table) -> None:
    gone = filled.latest().files[1]
    os.remove(Path(filled.location) / gone)
    with pytest.raises(tv.IntegrityError, match="missing"):
        filled.as_of(None, verify=True)


# --- locks that must fail loudly ------------------------------------------------------------


@pytest.mark.disk
def test_a_lock_on_a_tampered_data_file_fails(filled: tv.Table, tmp_path: Path) -> None:
    s = filled.latest()
    path = _lock(s, tmp_path)
    bad = s.files[1]
    _flip_a_byte(filled.location, bad)
    with pytest.raises(tv.IntegrityError, match=bad.replace(".", r"\.")):
        tv.from_lock(path)


@pytest.mark.disk
def test_a_lock_on_a_rewritten_data_file_fails(filled: tv.Table, tmp_path: Path) -> None:
    """Same path, other bytes: the file's name no longer matches its content."""
    s = filled.latest()
    path = _lock(s, tmp_path)
    victim = Path(filled.location) / s.files[0]
    other = Path(filled.location) / s.files[1]
    os.chmod(victim, os.stat(victim).st_mode | stat.S_IWUSR)
    victim.write_bytes(other.read_bytes())
    with pytest.raises(tv.IntegrityError, match="does not match its SHA-256"):
        tv.from_lock(path)


def test_a_lock_naming_a_version_that_does_not_exist_fails(
    filled: tv.Table, tmp_path: Path
) -> None:
    path = _lock(filled.latest(), tmp_path)
    _edit(path, version=99)
    with pytest.raises(tv.RefNotFoundError, match=r"pins version 99"):
        tv.from_lock(path)


def test_a_lock_whose_id_was_edited_fails(filled: tv.Table, tmp_path: Path) -> None:
    path = _lock(filled.latest(), tmp_path)
    _edit(path, id="0" * 64)
    with pytest.raises(tv.IntegrityError, match="snapshot id"):
        tv.from_lock(path)


def test_a_lock_pointing_at_another_version_fails(filled: tv.Table, tmp_path: Path) -> None:
    path = _lock(filled.latest(), tmp_path)
    _edit(path, version=1)
    with pytest.raises(tv.IntegrityError, match="snapshot id.*fingerprint.*rows"):
        tv.from_lock(path)


def test_a_lock_whose_content_hash_differs_fails(filled: tv.Table, tmp_path: Path) -> None:
    path = _lock(filled.latest(), tmp_path)
    _edit(path, content_hash="f" * 64)
    with pytest.raises(tv.IntegrityError, match="content hash"):
        tv.from_lock(path)


def test_a_lock_whose_version_was_expired_fails(filled: tv.Table, tmp_path: Path) -> None:
    path = _lock(filled.as_of(1), tmp_path)
    filled.append(make_batch([100]))
    assert 1 in tv.expire(filled, older_than="0s", keep_last=1)
    with pytest.raises(tv.RefNotFoundError, match="pins version 1"):
        tv.from_lock(path)


def test_a_lock_written_by_a_previous_release_still_opens(
    filled: tv.Table, tmp_path: Path
) -> None:
    path = _lock(filled.latest(), tmp_path)
    body = json.loads(path.read_text())
    del body["content_hash"]  # older locks have no content hash
    path.write_text(json.dumps(body))
    assert tv.from_lock(path).version == 2


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "something-else/1"}',
        '{"format": "tablever-lock/1", "table": "x"}',
    ],
)
def test_a_malformed_lock_is_corrupt(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.lock"
    path.write_text(text)
    with pytest.raises(tv.CorruptLogError, match="lock file"):
        tv.from_lock(path)


@pytest.mark.parametrize("version", ["2", True, -1, 1.5, None])
def test_a_lock_with_a_bad_version_is_corrupt(
    filled: tv.Table, tmp_path: Path, version: object
) -> None:
    path = _lock(filled.latest(), tmp_path)
    _edit(path, version=version)
    with pytest.raises(tv.CorruptLogError, match="bad version"):
        tv.from_lock(path)


def test_a_missing_lock_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tv.from_lock(tmp_path / "nope.lock")
