"""tv.verify: re-hash every retained file, check the log; report, never raise or modify."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

import tablever as tv
from tablever.format.commit import canonical_json
from tests.conftest import make_batch, table_files


def filled(t: tv.Table) -> tv.Table:
    t.append(make_batch(list(range(10))))
    t.append(make_batch(list(range(10, 20))))
    t.delete("id % 4 = 0")
    t.append(make_batch(list(range(20, 30))))
    return t


def commit_file(t: tv.Table, v: int) -> Path:
    return Path(t.location) / "_tablever" / "log" / f"{v:020d}.json"


def flip(p: Path, at: int | None = None) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0x01
    p.write_bytes(bytes(data))


def test_a_healthy_table_is_ok(table: tv.Table) -> None:
    filled(table)
    report = tv.verify(table)
    assert report.ok and report.problems == [] and report.orphans == []
    latest = table.latest()
    assert report.versions_checked == latest.version + 1
    assert report.files_checked == 3 + len(latest.deletion_vectors)
    assert report.bytes_checked > 0
    assert report.to_dict()["ok"] is True


@pytest.mark.parametrize("kind", ["data", "deletes"])
def test_a_flipped_byte_is_found_and_named(table: tv.Table, kind: str) -> None:
    filled(table)
    snap = table.latest()
    rel = snap.files[0] if kind == "data" else snap.deletion_vectors[0].path
    flip(Path(table.location) / rel)
    files = table_files(table.location)
    report = tv.verify(table)
    assert not report.ok
    assert [p for p in report.problems if rel in p and "SHA-256" in p]
    assert table_files(table.location) == files  # verify never modifies


def test_a_missing_file_is_found_and_named(table: tv.Table) -> None:
    filled(table)
    rel = table.as_of(1).files[0]
    (Path(table.location) / rel).unlink()
    report = tv.verify(table)
    assert any(rel in p and "missing" in p for p in report.problems)


def test_a_truncated_commit_is_found_and_named(table: tv.Table) -> None:
    filled(table)
    newest = commit_file(table, table.latest().version)
    newest.write_bytes(newest.read_bytes()[:40])
    report = tv.verify(table)
    assert not report.ok and any(newest.name in p for p in report.problems)
    middle = commit_file(table, 2)
    middle.write_bytes(b"")
    report = tv.verify(table)
    assert any(middle.name in p for p in report.problems)


def test_a_rewritten_commit_breaks_the_hash_chain(table: tv.Table) -> None:
    filled(table)
    p = commit_file(table, 2)
    body = json.loads(p.read_bytes())
    body["message"] = "history, edited"
    body.pop("id")
    body["id"] = hashlib.sha256(canonical_json(body)).hexdigest()  # a consistent forgery
    p.write_bytes(canonical_json(body))
    report = tv.verify(table)
    assert any(commit_file(table, 3).name in p and "parent_id" in p for p in report.problems)


def test_a_deleted_commit_that_was_never_expired_is_a_problem(table: tv.Table) -> None:
    filled(table)
    commit_file(table, 2).unlink()
    report = tv.verify(table)
    assert any(commit_file(table, 2).name in p and "never expired" in p for p in report.problems)


def test_orphans_are_listed_not_problems(table: tv.Table) -> None:
    filled(table)
    table.overwrite(make_batch([1]))
    time.sleep(0.01)
    tv.expire(table, older_than="0s", keep_last=1)
    report = tv.verify(table)
    assert report.ok and len(report.orphans) >= 3
    assert all(p.startswith(("data/", "deletes/")) for p in report.orphans)
    tv.vacuum(table, grace="0s")
    assert tv.verify(table).orphans == []


def test_checkpoints_are_checked_against_the_log(path: str) -> None:
    t = filled(tv.create(path, schema=make_batch([]).schema, properties={"checkpoint_interval": 2}))
    assert tv.verify(t).ok
    ck = Path(t.location) / "_tablever" / "checkpoints" / f"{2:020d}.parquet"
    assert ck.exists()
    flip(ck, at=len(ck.read_bytes()) - 20)  # inside the footer
    report = tv.verify(t)
    assert any(ck.name in p for p in report.problems)
    assert t.as_of(2).num_rows == 20  # readers fall back to the log meanwhile


def test_after_expiry_the_anchor_checkpoint_is_required(table: tv.Table) -> None:
    filled(table)
    table.tag("keep", 2)
    time.sleep(0.01)
    tv.expire(table, older_than="0s", keep_last=1)
    assert tv.verify(table).ok
    ck = Path(table.location) / "_tablever" / "checkpoints" / f"{2:020d}.parquet"
    ck.unlink()
    report = tv.verify(table)
    assert any(ck.name in p and "missing" in p for p in report.problems)


def test_tags_and_runs_must_point_at_retained_versions(table: tv.Table) -> None:
    filled(table)
    table.tag("v1", 1)
    table.link_run("r1", 2)
    tag = Path(table.location) / "_tablever" / "tags" / "v1.json"
    body = json.loads(tag.read_bytes())
    body["id"] = "0" * 64
    tag.write_bytes(canonical_json(body))
    run = Path(table.location) / "_tablever" / "runs" / "r1.json"
    body = json.loads(run.read_bytes())
    body["version"] = 99
    run.write_bytes(canonical_json(body))
    problems = tv.verify(table).problems
    assert any("tags/v1.json" in p for p in problems)
    assert any("runs/r1.json" in p for p in problems)


def test_unexpected_files_are_problems(table: tv.Table) -> None:
    filled(table)
    (Path(table.location) / "_tablever" / "stray.bin").write_bytes(b"?")
    assert tv.verify(table).problems == ["_tablever/stray.bin: unexpected file"]


def test_an_unreadable_expiry_record_is_reported(table: tv.Table) -> None:
    filled(table)
    time.sleep(0.01)
    tv.expire(table, older_than="0s", keep_last=1)
    record = next((Path(table.location) / "_tablever" / "expired").iterdir())
    record.write_bytes(b"{not json")
    report = tv.verify(table)
    assert not report.ok and record.name in report.problems[0]
    with pytest.raises(tv.CorruptLogError, match=record.name):
        table.as_of(1)


def test_a_summary_that_disagrees_with_the_files_is_a_problem(table: tv.Table) -> None:
    filled(table)
    p = commit_file(table, table.latest().version)
    body = json.loads(p.read_bytes())
    body["summary"]["total_rows"] += 1
    body.pop("id")
    body["id"] = hashlib.sha256(canonical_json(body)).hexdigest()
    p.write_bytes(canonical_json(body))
    problems = tv.verify(table).problems
    assert problems == [f"_tablever/log/{p.name}: summary says total_rows=26 but the state has 25"]


def test_reads_trust_files_this_process_wrote_until_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data files written here were hashed from the bytes written: the first read does
    not hash them again, yet a byte changed on disk afterwards is still caught."""
    import tablever.integrity as integrity

    hashed: list[str] = []
    real = integrity.check_hash

    def counting(storage: object, path: str, sha: str, **kw: bytes) -> list[str]:
        hashed.append(path)
        return real(storage, path, sha, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(integrity, "check_hash", counting)
    t = tv.create(tmp_path / "t", schema=make_batch([0]).schema)
    t.append(make_batch(list(range(10))))
    t.append(make_batch(list(range(10, 20))))
    assert tv.open(tmp_path / "t").latest().to_arrow().num_rows == 20
    assert hashed == []
    victim = t.latest().data_files[1]
    flip(tmp_path / "t" / victim.path)
    with pytest.raises(tv.IntegrityError, match=victim.path):
        tv.open(tmp_path / "t").latest().to_arrow()
    assert hashed == [victim.path]


def test_the_registries_of_checked_files_stay_bounded() -> None:
    from tablever.caches import Lru

    registry: Lru[str, int] = Lru("test", max_entries=10, max_bytes=10**9)
    for i in range(25):
        registry.put(f"f{i}", i)
        assert len(registry) <= 10
    assert registry.get("f24") == 24 and "f0" not in registry  # the newest stay
    registry.put("f20", -1)  # set again: now the newest
    for i in range(9):
        registry.put(f"g{i}", i)
    assert registry.get("f20") == -1 and "f21" not in registry

def test_clear_caches_empties_every_cache_and_reads_stay_exact(tmp_path: Path) -> None:
    from tablever.caches import all_caches

    t = tv.create(tmp_path / "t", schema=make_batch([0]).schema)
    t.append(make_batch(list(range(10))))
    t.delete("id < 3")
    before = tv.open(tmp_path / "t").latest().to_arrow()
    assert any(len(c) for c in all_caches())
    tv.clear_caches()
    assert all(len(c) == 0 and c.bytes == 0 for c in all_caches())
    assert tv.open(tmp_path / "t").latest().to_arrow().equals(before)
