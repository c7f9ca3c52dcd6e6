"""Pipelines over tables: what is stale (``status``) and re-running only that (``repro``).

A stage is a function marked with :func:`stage`: its inputs are table versions (a
location, optionally ``@REF``: a tag, version or time; latest when absent), its outputs
table locations, its params plain JSON values. It receives its inputs as snapshots and
returns the rows of each output. :func:`repro` runs a stage only when an input's content
(its fingerprint) or a param differs from what the outputs' last run of it recorded, and
commits each output once (an overwrite, with the inputs as lineage and the stage's name
and params as commit properties). A stage that raises, or returns rows that do not fit
an output, commits nothing.

:func:`status` answers, like ``dvc status``, which tables of a warehouse were derived
from versions that have since changed, and by how many rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tablever.errors import InvalidValueError, TableNotFoundError, TableverError
from tablever.upstream import Input

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot
    from tablever.table import Table

__all__ = ["Graph", "Node", "Stage", "StageRun", "Stale", "graph", "registered", "repro", "stage", "status"]

STAGE_KEY = "stage"  # commit properties of a stage's output: its name ...
PARAMS_KEY = "stage.params"  # ... its params, as canonical JSON ...
INPUTS_KEY = "stage.inputs"  # ... and its inputs as declared (location@ref), JSON


def _split_ref(spec: str) -> tuple[str, str | None]:
    """``wh/events@v2.0`` -> (``wh/events``, ``v2.0``); ``s3://b/t`` -> (``s3://b/t``, None)."""
    if "@" in spec:
        location, ref = spec.rsplit("@", 1)
        if location and ref and "/" not in ref:
            return location, ref
    return spec, None


def _open(location: str) -> Table:
    from tablever.table import open_table

    return open_table(location)


@dataclass(frozen=True)
class Stage:
    """A function of table versions to tables (see :func:`stage`)."""

    name: str
    fn: Callable[..., Mapping[str, Any]]
    inputs: Mapping[str, str]
    outputs: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self) -> dict[str, Snapshot]:
        """The input snapshots as they are now."""
        out = {}
        for name, spec in self.inputs.items():
            location, ref = _split_ref(spec)
            out[name] = _open(location).as_of(ref)
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Mapping[str, Any]:
        return self.fn(*args, **kwargs)


_REGISTRY: dict[str, Stage] = {}


def registered() -> list[Stage]:
    """The stages defined so far in this process (a later one replaces a namesake)."""
    return list(_REGISTRY.values())


def stage(
    *, inputs: Mapping[str, str], outputs: Sequence[str],
    params: Mapping[str, Any] | None = None, name: str | None = None,
) -> Callable[[Callable[..., Mapping[str, Any]]], Stage]:
    """Mark ``fn(**snapshots, params=...)`` as a stage; it returns ``{output: rows}``.

    Example:
        >>> import pyarrow as pa, pyarrow.compute as pc, tablever as tv, tempfile, os
        >>> wh = tempfile.mkdtemp()
        >>> events = tv.create(f"{wh}/events", data=pa.table({"x": [1, 2, 3, 4]}))
        >>> @tv.stage(inputs={"events": f"{wh}/events"}, outputs=[f"{wh}/big"],
        ...           params={"min": 2})
        ... def select(events, params):
        ...     rows = events.to_arrow()
        ...     return {f"{wh}/big": rows.filter(pc.field("x") > params["min"])}
        >>> [r.ran for r in tv.repro(select)]
        [True]
        >>> [r.reason for r in tv.repro(select)]
        ['up to date']
        >>> _ = events.append(pa.table({"x": [9]}))
        >>> tv.repro(select)[0].reason
        'input events changed (version 1 -> 2)'
        >>> tv.open(f"{wh}/big").latest().num_rows
        3
    """
    if not isinstance(inputs, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
        raise InvalidValueError("stage inputs= maps names to table locations (str)")
    if isinstance(outputs, str) or not outputs or not all(isinstance(o, str) for o in outputs):
        raise InvalidValueError("stage outputs= is a list of table locations")
    try:
        json.dumps(dict(params or {}), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"stage params must be plain JSON values: {exc}") from exc

    def mark(fn: Callable[..., Mapping[str, Any]]) -> Stage:
        s = Stage(name or fn.__name__, fn, dict(inputs),
                  tuple(os.fspath(o) for o in outputs), dict(params or {}))
        _REGISTRY[s.name] = s
        return s

    return mark


@dataclass(frozen=True, slots=True)
class StageRun:
    """What :func:`repro` did with one stage, and why."""

    stage: str
    ran: bool
    reason: str
    versions: Mapping[str, int] = field(default_factory=dict)  # output -> version committed

    def __str__(self) -> str:
        return f"{self.stage}: {'ran' if self.ran else 'skipped'} ({self.reason})"


def _canonical(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _last_run(location: str, name: str) -> Snapshot | None:
    """The newest version of ``location`` that stage ``name`` committed."""
    try:
        table = _open(location)
    except TableNotFoundError:
        return None
    for snap in table.history():
        if snap.properties.get(STAGE_KEY) == name:
            return snap
    return None


def _why(s: Stage, now: Mapping[str, Snapshot]) -> str | None:
    """Why ``s`` must run (None: its outputs are up to date)."""
    params = _canonical(s.params)
    for out in s.outputs:
        last = _last_run(out, s.name)
        if last is None:
            return f"no run of it in {out}"
        if last.properties.get(PARAMS_KEY) != params:
            return f"params changed ({last.properties.get(PARAMS_KEY)} -> {params})"
        recorded = {i.location: i for i in last.inputs}
        for name, snap in now.items():
            before = recorded.get(snap.location)
            if before is None:
                return f"input {name} is new"
            if before.fingerprint != snap.fingerprint:
                return f"input {name} changed (version {before.version} -> {snap.version})"
    return None


def _order(stages: Sequence[Stage]) -> list[Stage]:
    """Stages whose inputs are other stages' outputs after those stages."""
    made = {os.path.normpath(o): s.name for s in stages for o in s.outputs}
    done: list[Stage] = []
    pending = list(stages)
    while pending:
        ready = [s for s in pending if all(
            made.get(os.path.normpath(_split_ref(v)[0])) in (None, *[d.name for d in done])
            for v in s.inputs.values())]
        if not ready:
            raise TableverError("the stages depend on each other in a cycle: "
                                + ", ".join(s.name for s in pending))
        done += ready
        pending = [s for s in pending if s not in ready]
    return done


def repro(*stages: Stage | str, force: bool = False,
          echo: Callable[[str], None] | None = None) -> list[StageRun]:
    """Run the stages (all registered ones when none is named) whose inputs or params
    changed since their outputs were last made, in dependency order; ``force`` runs
    them all. ``echo`` gets a line per stage saying what was done and why."""
    chosen = [(_REGISTRY[s] if isinstance(s, str) and s in _REGISTRY else s) for s in stages]
    unknown = [s for s in chosen if not isinstance(s, Stage)]
    if unknown:
        raise InvalidValueError(f"no stage {unknown[0]!r}; known: {', '.join(sorted(_REGISTRY))}")
    runs = []
    for s in _order([c for c in chosen if isinstance(c, Stage)] or list(_REGISTRY.values())):
        now = s.resolve()
        why = "forced" if force else _why(s, now)
        if why is None:
            run = StageRun(s.name, False, "up to date")
        else:
            run = StageRun(s.name, True, why, _run(s, now))
        if echo is not None:
            echo(str(run))
        runs.append(run)
    return runs


def _run(s: Stage, now: Mapping[str, Snapshot]) -> dict[str, int]:
    from tablever.schema import conform, to_arrow_table
    from tablever.table import create

    produced = s.fn(**now, params=dict(s.params))
    if not isinstance(produced, Mapping) or set(map(os.fspath, produced)) != set(s.outputs):
        got = sorted(map(str, produced)) if isinstance(produced, Mapping) else type(produced)
        raise TableverError(
            f"stage {s.name} must return {{output: rows}} for {list(s.outputs)}, got {got}; "
            "nothing was committed")
    rows = {os.fspath(k): to_arrow_table(v) for k, v in produced.items()}
    tables: dict[str, Table | None] = {}
    for out, data in rows.items():  # every output checked before any commits
        try:
            tables[out] = _open(out)
        except TableNotFoundError:
            tables[out] = None
            continue
        table = tables[out]
        assert table is not None
        conform(data, table.schema)
    props = {STAGE_KEY: s.name, PARAMS_KEY: _canonical(s.params),
             INPUTS_KEY: _canonical(s.inputs)}
    inputs = list(now.values())
    versions = {}
    for out, data in rows.items():
        table = tables[out]
        if table is None:
            table = create(out, data.schema, message=f"created by stage {s.name}")
        snap = table.overwrite(data, message=f"stage {s.name}", properties=props,
                               inputs=inputs, allow_empty=True)
        versions[out] = snap.version
    return versions


def _declared_refs(built: Snapshot) -> dict[str, str]:
    """location -> ref of the inputs a stage declared with ``@REF`` (by its commit)."""
    raw = built.properties.get(INPUTS_KEY)
    if not isinstance(raw, str):
        return {}
    try:
        declared = json.loads(raw)
    except ValueError:
        return {}
    out = {}
    for spec in declared.values() if isinstance(declared, dict) else ():
        location, ref = _split_ref(str(spec))
        if ref is not None:
            try:
                out[_open(location).location] = ref
            except TableverError:
                continue
    return out


@dataclass(frozen=True, slots=True)
class Stale:
    """A table built from a version of another that has changed since (the input's
    latest version, or, for a stage that pinned the input with ``@REF``, what the ref
    names now)."""

    table: str
    input: Input  # what it was built from
    latest_version: int
    rows_added: int
    rows_removed: int

    def __str__(self) -> str:
        return (f"{self.table}: built from {self.input.location} version {self.input.version}"
                f", now {self.latest_version} (+{self.rows_added} -{self.rows_removed} rows)")


def status(location: str | os.PathLike[str] | Iterable[str]) -> list[Stale]:
    """Every derived table (of a warehouse, or the given table locations) whose newest
    recorded inputs have changed content since, with the rows added and removed there.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> wh = tv.Warehouse(tempfile.mkdtemp())
        >>> events = wh.create("events", data=pa.table({"x": [1, 2]}))
        >>> train = wh.create("train", schema=pa.schema([("x", pa.int64())]))
        >>> _ = train.append(events.latest().to_arrow(), inputs=[events.latest()])
        >>> tv.status(wh.path)
        []
        >>> _ = events.append(pa.table({"x": [3]}))
        >>> [(s.input.version, s.latest_version, s.rows_added) for s in tv.status(wh.path)]
        [(1, 2, 1)]
    """
    if isinstance(location, (str, os.PathLike)):
        from tablever.warehouse import Warehouse

        try:
            locations = [_open(os.fspath(location)).location]
        except TableNotFoundError:
            wh = Warehouse(location)
            locations = [wh.table(n).location for n in wh.tables()]
    else:
        locations = list(location)
    out = []
    for loc in locations:
        built = next((s for s in _open(loc).history() if s.inputs), None)
        if built is None:
            continue
        pinned = _declared_refs(built)
        for inp in built.inputs:
            try:
                upstream_table = _open(inp.location)
                # a stage that pinned this input to a ref is stale only if the ref moved
                now = upstream_table.as_of(pinned.get(inp.location))
            except TableverError:
                continue
            if now.fingerprint == inp.fingerprint:
                continue
            summary = upstream_table.diff(inp.version, now.version).summary
            out.append(Stale(loc, inp, now.version, int(summary.get("added", 0)),
                             int(summary.get("removed", 0))))
    return out


@dataclass(frozen=True, slots=True)
class Node:
    """A table version in a lineage graph."""

    location: str
    version: int
    id: str  # "" where the version could not be read (expired, or its table gone)


@dataclass(frozen=True, slots=True)
class Graph:
    """Table versions and the derivations between them (``(source, derived)`` edges)."""

    root: Node
    nodes: tuple[Node, ...]
    edges: tuple[tuple[Node, Node], ...]

    def to_dict(self) -> dict[str, Any]:
        def node(n: Node) -> dict[str, Any]:
            return {"location": n.location, "version": n.version, "id": n.id}

        return {"root": node(self.root), "nodes": [node(n) for n in self.nodes],
                "edges": [{"from": node(a), "to": node(b)} for a, b in self.edges]}

    def to_dot(self) -> str:
        """The graph in Graphviz's DOT language (``dot -Tsvg``)."""
        index = {n: f"n{i}" for i, n in enumerate(self.nodes)}
        lines = ["digraph lineage {", "    rankdir=LR;"]
        for n, key in index.items():
            name = n.location.rstrip("/").rsplit("/", 1)[-1].replace('"', "'")
            lines.append(f'    {key} [label="{name} v{n.version}"];')
        lines += [f"    {index[a]} -> {index[b]};" for a, b in self.edges]
        return "\n".join([*lines, "}"])

    def to_mermaid(self) -> str:
        """The graph in Mermaid's flowchart syntax (GitHub and many editors draw it)."""
        index = {n: f"n{i}" for i, n in enumerate(self.nodes)}
        lines = ["flowchart LR"]
        for n, key in index.items():
            name = n.location.rstrip("/").rsplit("/", 1)[-1]
            lines.append(f'    {key}["{name} v{n.version}"]')
        lines += [f"    {index[a]} --> {index[b]}" for a, b in self.edges]
        return "\n".join(lines)


def graph(location: str | os.PathLike[str], ref: Any = None, *,
          warehouse: str | os.PathLike[str] | None = None) -> Graph:
    """What the version ``ref`` of the table at ``location`` was derived from (upstream,
    followed through every recorded input) and what was derived from it (downstream:
    versions of the tables of ``warehouse``, by default the folder holding the table,
    whose commits name it as an input, and so on).

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile
        >>> wh = tv.Warehouse(tempfile.mkdtemp())
        >>> events = wh.create("events", data=pa.table({"x": [1, 2]}))
        >>> train = wh.create("train", schema=pa.schema([("x", pa.int64())]))
        >>> _ = train.append(events.latest().to_arrow(), inputs=[events.latest()])
        >>> g = tv.lineage_graph(events.location)
        >>> [(a.version, b.location == train.location, b.version) for a, b in g.edges]
        [(1, True, 1)]
    """
    from tablever.warehouse import Warehouse

    start = _open(os.fspath(location)).as_of(ref)
    root = Node(start.location, start.version, start.id)
    nodes: dict[tuple[str, int], Node] = {(root.location, root.version): root}
    edges: list[tuple[Node, Node]] = []
    todo = [(root, start)]
    while todo:  # upstream
        node, snap = todo.pop()
        for inp in snap.inputs:
            key = (inp.location, inp.version)
            up: Snapshot | None
            try:
                up = _open(inp.location).as_of(inp.version)
            except TableverError:
                up = None
            seen = key in nodes
            parent = nodes.setdefault(key, Node(inp.location, inp.version, up.id if up else ""))
            edges.append((parent, node))
            if up is not None and not seen:
                todo.append((parent, up))
    folder = os.fspath(warehouse) if warehouse is not None else (
        start.location.rstrip("/").rsplit("/", 1)[0])
    wh = Warehouse(folder)
    derived: dict[tuple[str, int], list[Snapshot]] = {}
    for name in wh.tables():
        for snap in wh.table(name).history():
            for inp in snap.inputs:
                derived.setdefault((inp.location, inp.version), []).append(snap)
    frontier = [root]
    while frontier:  # downstream
        node = frontier.pop()
        for snap in derived.get((node.location, node.version), []):
            key = (snap.location, snap.version)
            seen = key in nodes
            child = nodes.setdefault(key, Node(snap.location, snap.version, snap.id))
            edges.append((node, child))
            if not seen:
                frontier.append(child)
    return Graph(root, tuple(nodes.values()), tuple(dict.fromkeys(edges)))
