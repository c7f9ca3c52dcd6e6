"""Commits as data: canonical JSON, content-derived ids, strict reading (no disk)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from tablever.errors import CorruptLogError, InvalidNameError, UnsupportedFormatError
from tablever.format.commit import (
    Actions,
    Commit,
    DataFile,
    DeleteVector,
    canonical_json,
    check_name,
    check_rel_path,
    commit_id,
    from_json,
    to_json,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def data_file(sha: str = SHA_A, rows: int = 3, first: int | None = 0) -> DataFile:
    return DataFile(
        path=f"data/{sha[:2]}/{sha}.parquet",
        sha256=sha,
        bytes=100,
        rows=rows,
        first_row_id=first,
        stats={"id": {"min": 0, "max": 2, "nulls": 0}},
    )


def commit(version: int = 1, parent: str | None = "c" * 64, **kw: object) -> Commit:
    fields: dict[str, object] = dict(
        version=version,
        parent_id=parent,
        timestamp_ms=1_700_000_000_000 + version,
        txn="t" * 32,
        operation="append",
        message="add rows",
        author="alice",
        properties={"k": "v"},
        provenance={"python": "3.11"},
        schema=None,
        actions=Actions(add=(data_file(),)),
        summary={"added_rows": 3, "deleted_rows": 0, "total_rows": 3, "total_files": 1,
                 "total_bytes": 100},
    )
    fields.update(kw)
    return Commit(**fields).with_id()  # type: ignore[arg-type]


def test_canonical_json_sorts_keys_without_whitespace() -> None:
    got = canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]})
    assert got == '{"a":[1,{"c":"é","d":2}],"b":1}'.encode()


def test_canonical_json_rejects_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_id_is_sha256_of_canonical_body_without_id() -> None:
    c = commit()
    assert c.id == commit_id(c) == hashlib.sha256(canonical_json(c.body())).hexdigest()
    assert "id" not in c.body()
    assert json.loads(to_json(c))["id"] == c.id


def test_id_depends_on_every_field_including_parent() -> None:
    base = commit()
    variants = [
        commit(parent="d" * 64),
        commit(message="other"),
        commit(timestamp_ms=1),
        commit(properties={"k": "w"}),
        commit(actions=Actions(add=(data_file(rows=4),))),
    ]
    assert len({base.id, *(v.id for v in variants)}) == len(variants) + 1


def test_round_trip_is_exact() -> None:
    c = commit(
        actions=Actions(
            add=(data_file(), data_file(SHA_B, first=None)),
            remove=(("data/cc/" + "c" * 64 + ".parquet", 7),),
            deletes=(DeleteVector(data_file().path, 0, f"deletes/bb/{SHA_B}.parquet", SHA_B, 1),),
        ),
        schema={"fields": [{"name": "id", "type": "int64", "nullable": True}]},
    )
    raw = to_json(c)
    back = from_json(raw, where="log/1.json", expected_version=1)
    assert back == c
    assert to_json(back) == raw


def test_tampered_commit_is_detected() -> None:
    raw = to_json(commit()).replace(b"add rows", b"add rowz")
    with pytest.raises(CorruptLogError, match="tampered"):
        from_json(raw, where="log/1.json")


@pytest.mark.parametrize("raw", [b"", b'{"format": 1, "vers', b"[]", b"\xff\xfe"])
def test_torn_or_garbage_commit_is_corrupt_log_error(raw: bytes) -> None:
    with pytest.raises(CorruptLogError, match="log/9.json"):
        from_json(raw, where="log/9.json")


def test_version_must_match_file_name() -> None:
    with pytest.raises(CorruptLogError, match="expected 2"):
        from_json(to_json(commit(version=1)), where="x", expected_version=2)


@pytest.mark.parametrize("fmt", [0, 3, 99])
def test_unknown_format_version_is_rejected(fmt: int) -> None:
    # a newer format is not corruption: the error says to upgrade tablever
    with pytest.raises(UnsupportedFormatError, match=f"format {fmt}.*upgrade tablever") as info:
        from_json(_with_body(format=fmt), where="x")
    assert info.value.format == fmt
    assert not isinstance(info.value, CorruptLogError)


def test_format_2_commit_is_read() -> None:
    assert from_json(_with_body(format=2), where="x").format == 2


def _with_body(**changes: object) -> bytes:
    body = commit().body()
    body.update(changes)
    body["id"] = hashlib.sha256(canonical_json(body)).hexdigest()
    return canonical_json(body)


@pytest.mark.parametrize(
    "path",
    ["../x.parquet", "/etc/passwd", "s3://bucket/x", "data\\x", "data//x", "./data/x",
     "data/../../x", "data/x\x00", ""],
)
def test_hostile_paths_in_a_commit_are_refused(path: str) -> None:
    add = [{**data_file().to_dict(), "path": path}]
    raw = _with_body(actions={"add": add, "remove": [], "deletes": []})
    with pytest.raises(CorruptLogError):
        from_json(raw, where="x")


def test_wrongly_typed_fields_are_refused() -> None:
    with pytest.raises(CorruptLogError, match="version"):
        from_json(_with_body(version=True), where="x")
    with pytest.raises(CorruptLogError, match="deleted_rows"):
        from_json(_with_body(summary={"added_rows": 1}), where="x")
    with pytest.raises(CorruptLogError, match="parent_id"):
        from_json(_with_body(parent_id="not-hex"), where="x")


@pytest.mark.parametrize("path", ["data/ab/" + SHA_A + ".parquet", "deletes/x.parquet", "a"])
def test_relative_normalised_paths_are_accepted(path: str) -> None:
    assert check_rel_path(path) == path


@pytest.mark.parametrize("name", ["v1.0", "a", "A_b-c.9", "x" * 128, "2024-01-01"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "../x", "a/b", "a\\b", "a\x00b", "x" * 129, ".hidden", "-x", "a..b", "a b", None, 3],
)
def test_invalid_names(name: object) -> None:
    with pytest.raises(InvalidNameError):
        check_name(name)


def test_actions_empty_and_file_keys() -> None:
    assert Actions().empty
    assert not Actions(remove=(("p", 0),)).empty
    f = data_file(first=5)
    assert f.key == (f.path, 5)
    assert replace(f, first_row_id=9).key != f.key
    assert f.columns == ["id"]


def test_hex_fields_with_a_trailing_newline_are_corrupt() -> None:
    # "$" in a pattern matches before a final newline: ids, digests and sums must not
    # pass with one.
    from tablever.format.commit import data_file_from_dict, delete_vector_from_dict

    sha = "ab" * 32
    good = {"path": f"data/ab/{sha}.parquet", "sha256": sha, "bytes": 10, "rows": 2,
            "first_row_id": 0, "stats": {}, "content_hash": {"sum": "0" * 32, "rows": 2}}
    assert data_file_from_dict(good, "t").sha256 == sha
    for bad in ({"sha256": sha + "\n"}, {"content_hash": {"sum": "0" * 32 + "\n", "rows": 2}}):
        with pytest.raises(CorruptLogError):
            data_file_from_dict({**good, **bad}, "t")
    dv = {"data_file": good["path"], "data_first_row_id": 0,
          "path": f"deletes/cd/{'cd' * 32}.parquet", "sha256": "cd" * 32 + "\n", "rows": 1}
    with pytest.raises(CorruptLogError):
        delete_vector_from_dict(dv, "t")
