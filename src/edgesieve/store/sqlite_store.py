"""The on-device store of retained samples: one SQLite file in WAL mode.

Torch-free on purpose (numpy and sqlite3 only): the torch-free runtime writes the same store.

Crash safety comes from SQLite transactions: each micro-batch (its retained samples, the
stream position and the counters) is committed in one transaction, so after a crash a batch is
either fully there or absent, and the stream position says exactly where to resume.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgesieve._version import __version__
from edgesieve.pcg64 import default_rng
from edgesieve.store.policy_driver import DRIVEN_POLICIES, DrivenPolicy, check_driven_policy

FORMAT = "edgesieve-store"
#: the .npz keys of samples and labels: what ``store export`` writes and ``filter --input`` reads
NPZ_SAMPLES, NPZ_LABELS = "x", "y"
FORMAT_VERSION = 1
#: policies that balance classes: a sample's class is its label when the stream has one, else
#: the filter's predicted class (``class_of`` in SQL); they need max_samples, like reservoir
CLASS_POLICIES = ("class_balanced", "gdumb")
#: every policy a store can have when full; DRIVEN_POLICIES (the label-free ones, always on the
#: predicted class, never the label; high_entropy, high_loss) run as the state machines of
#: edgesieve.store.policies
POLICIES = ("reject", "evict_lowest", "reservoir") + CLASS_POLICIES + tuple(DRIVEN_POLICIES)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    arrival INTEGER NOT NULL,
    time REAL NOT NULL,
    label INTEGER,
    predicted INTEGER NOT NULL,
    score REAL NOT NULL,
    reason TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    nbytes INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (source, arrival)
);
CREATE INDEX samples_by_score ON samples (score);
CREATE TABLE progress (source TEXT PRIMARY KEY, next_arrival INTEGER NOT NULL);
CREATE TABLE class_counts (class INTEGER PRIMARY KEY, seen INTEGER NOT NULL, kept INTEGER NOT NULL,
                           seen_bytes INTEGER NOT NULL, kept_bytes INTEGER NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COUNTERS = ("stored", "stored_bytes", "offered", "evicted", "rejected_full", "skipped_nonfinite")


#: SQLite page cache of a writing connection, KiB
CACHE_KIB = 512
CREATING_SUFFIX = ".creating"  # a store being built; it only ever appears under its name complete


def _creation_step(step: str) -> None:
    """Called after each step of store creation; tests replace it to crash there."""


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_store_file(path: Path, capacity: Capacity) -> None:
    """Create an empty store at ``path`` atomically: schema and metadata are built and committed
    under a temporary name (``path`` + ``.creating``), which is then renamed into place. A crash
    at any moment leaves either no store at ``path`` (a leftover temporary file is ours, and the
    next creation discards it) or a complete one; never a half-made file that later opens as
    "not an edgesieve store"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + CREATING_SUFFIX)
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        _creation_step("connected")
        conn.execute("BEGIN IMMEDIATE")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)
        _creation_step("schema")
        meta = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "created_by": __version__,
            "created_at": str(time.time()),
            "capacity": json.dumps(capacity.__dict__),
        }
        conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        conn.executemany("INSERT INTO counters VALUES (?, 0)", [(c,) for c in _COUNTERS])
        _creation_step("meta")
        conn.execute("COMMIT")
        _creation_step("committed")
        conn.execute("PRAGMA journal_mode=WAL")  # persistent: recorded in the file's header
        _creation_step("wal")
    finally:
        conn.close()  # the last connection checkpoints and removes the temporary WAL
    _creation_step("closed")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    _creation_step("renamed")


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says why and what to do."""


class StoreFullError(StoreError):
    """The disk (or the store's size limit) is full; the batch was rolled back."""


class StoreVersionError(StoreError):
    """The file is a store from an incompatible edgesieve version."""


@dataclass(frozen=True)
class Capacity:
    """How much a store may hold and what it does when full. ``params``: the policy's own
    parameters (``{"threshold": 0.9}`` for hus, ``{"within": "random", "labelled_store": True}``
    for trust_balanced); ``n_classes``: the model's number of classes, which the policies that
    read its softmax (``DRIVEN_POLICIES``) need.

    >>> Capacity(max_samples=100, policy="pbrs", n_classes=10).policy
    'pbrs'
    >>> Capacity(max_samples=100, policy="hus", n_classes=10, params={"threshold": 1.5})
    Traceback (most recent call last):
    ValueError: hus: threshold must be a confidence in (0, 1), got 1.5
    """

    max_samples: int | None = None
    max_bytes: int | None = None
    policy: str = "reject"
    seed: int = 0
    params: dict = field(default_factory=dict)
    n_classes: int | None = None

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"unknown store policy {self.policy!r}; available: {', '.join(POLICIES)}")
        if self.policy in DRIVEN_POLICIES:
            check_driven_policy(self.policy, self.params, self.max_samples, self.max_bytes, self.n_classes, self.seed)
        elif self.params:
            raise ValueError(f"the {self.policy} policy takes no parameters, got {sorted(self.params)}")
        for name in ("max_samples", "max_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        if self.policy in ("reservoir",) + CLASS_POLICIES and self.max_samples is None:
            raise ValueError(f"the {self.policy} policy needs max_samples (the store's size in samples)")


@dataclass(frozen=True)
class RetainedBatch:
    """One micro-batch of retained samples, all of one dtype and shape."""

    arrays: np.ndarray  # (N, *shape)
    arrivals: np.ndarray  # (N,) int
    predicted: np.ndarray  # (N,) int
    scores: np.ndarray  # (N,) float
    reasons: Sequence[str]
    labels: np.ndarray | None = None  # (N,) int, -1 where unknown
    probs: np.ndarray | None = None  # (N, C) float, the model's softmax (what the label-free policies read)

    def __len__(self) -> int:
        return int(self.arrays.shape[0])


@dataclass(frozen=True)
class BatchTally:
    """Everything the stream did in one micro-batch, for the counters."""

    next_arrival: int  # the stream position after this batch
    seen_classes: np.ndarray  # predicted class of every scored sample
    kept_mask: np.ndarray  # bool, selector's decision for every scored sample
    sample_nbytes: int  # bytes of one sample
    skipped_nonfinite: int = 0


class RetainedStore:
    """A SQLite store of retained samples with a capacity and a policy when full.

    >>> import tempfile, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "retained.db"
    >>> with RetainedStore(path, capacity=Capacity(max_samples=2)) as store:
    ...     batch = RetainedBatch(np.zeros((3, 4), np.float32), np.arange(3), np.zeros(3, int),
    ...                           np.ones(3), ["outside_window"] * 3)
    ...     tally = BatchTally(3, np.zeros(3, int), np.ones(3, bool), 16)
    ...     stored = store.commit("stream", batch, tally)
    ...     store.count(), store.next_arrival("stream"), store.counter("rejected_full")
    (2, 3, 1)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        capacity: Capacity | None = None,
        synchronous: str = "FULL",
        max_db_bytes: int | None = None,
        readonly: bool = False,
    ):
        self.path = Path(path)
        self.readonly = readonly
        if synchronous not in ("OFF", "NORMAL", "FULL"):
            raise ValueError(f"synchronous must be OFF, NORMAL or FULL, got {synchronous!r}")
        exists = self.path.exists() and self.path.stat().st_size > 0
        if readonly and not exists:
            raise StoreError(f"no store at {self.path}")
        try:
            if not readonly and not exists:
                create_store_file(self.path, capacity or Capacity())
            if readonly:
                self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, timeout=30)
            else:
                self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                self._check_format()  # before anything is written: a foreign file stays untouched
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(f"PRAGMA synchronous={synchronous}")
                # a device store is appended to and rarely read back: SQLite's default 2 MB page
                # cache buys nothing there, and the filter is measured against plain inference's memory
                self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            if max_db_bytes is not None:
                page = self._conn.execute("PRAGMA page_size").fetchone()[0]
                self._conn.execute(f"PRAGMA max_page_count={max(1, max_db_bytes // page)}")
            if readonly:
                self._check_format()
            self.capacity = self._load_capacity(capacity)
            cap = self.capacity
            self._driven = (DrivenPolicy(self._conn, cap.policy, cap.max_samples, cap.seed, cap.params, cap.n_classes)
                            if cap.policy in DRIVEN_POLICIES else None)
        except sqlite3.DatabaseError as err:
            self._close_quietly()
            raise StoreError(f"{self.path} is not a readable edgesieve store ({err})") from err
        except BaseException:
            self._close_quietly()
            raise

    # -- opening ------------------------------------------------------------------------------

    def _check_format(self) -> None:
        try:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as err:
            tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            hint = (" (an empty SQLite database: if an edgesieve older than 0.2 was interrupted while creating "
                    "it, delete it and run again)") if tables == 0 else ""
            raise StoreError(f"{self.path} is an SQLite file but not an edgesieve store ({err}){hint}; "
                             "it was left untouched") from err
        if meta.get("format") != FORMAT:
            raise StoreError(f"{self.path} is an SQLite file but not an edgesieve store")
        version = int(meta.get("format_version", "0"))
        if version != FORMAT_VERSION:
            raise StoreVersionError(
                f"{self.path} is a store of format version {version} (written by edgesieve "
                f"{meta.get('created_by')}); this edgesieve {__version__} reads version {FORMAT_VERSION}. "
                "Export it with the edgesieve that wrote it, or start a new store"
            )

    def _load_capacity(self, requested: Capacity | None) -> Capacity:
        saved = Capacity(**json.loads(self._meta("capacity")))
        if requested is not None and requested != saved:
            raise ValueError(
                f"{self.path} was created with {saved}; reopening with {requested} would change its "
                "policy mid-stream. Reopen without a capacity, or start a new store"
            )
        return saved

    def _meta(self, key: str) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: meta entry {key!r} is missing")
        return row[0]

    def close(self) -> None:
        self._conn.close()

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    def __enter__(self) -> "RetainedStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    class _Tx:
        def __init__(self, conn):
            self.conn = conn

        def __enter__(self):
            self.conn.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind, err, tb):
            if kind is None:
                try:
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
            elif self.conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                self.conn.execute("ROLLBACK")

    def _transaction(self) -> "_Tx":
        return RetainedStore._Tx(self._conn)

    def commit(self, source: str, batch: RetainedBatch | None, tally: BatchTally) -> int:
        """Store a micro-batch's retained samples (applying the capacity policy), advance the
        stream position and the counters, all in one transaction. Returns how many were stored.

        On a full disk (or ``max_db_bytes``) nothing of the batch is written and
        ``StoreFullError`` is raised; everything committed before stays intact.
        """
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        try:
            with self._transaction():
                stored = self._insert(source, batch) if batch is not None and len(batch) else 0
                self._tally(source, tally)
                if self._driven is not None:
                    self._driven.save()
            return stored
        except BaseException as err:
            if self._driven is not None:
                self._driven.forget()  # rolled back: the committed state is reloaded on next use
            if not isinstance(err, sqlite3.DatabaseError):
                raise
            self._raise_write_error(err)

    def _raise_write_error(self, err: sqlite3.DatabaseError):
        if isinstance(err, sqlite3.OperationalError) and "full" in str(err):
            raise StoreFullError(
                f"{self.path}: the disk or the store's size limit is full ({err}); this batch was "
                f"not stored, the {self.count()} samples committed before are intact. Free space, "
                "raise the limit, or set a capacity with a policy (evict_lowest, reservoir)"
            ) from err
        raise StoreError(f"{self.path}: write failed ({err}); the batch was rolled back") from err

    def _insert(self, source: str, batch: RetainedBatch) -> int:
        arrays = np.ascontiguousarray(batch.arrays)
        dtype, shape = arrays.dtype.str, json.dumps(list(arrays.shape[1:]))
        nbytes = int(arrays[0].nbytes)
        labels = batch.labels if batch.labels is not None else np.full(len(batch), -1)
        now = time.time()
        rows = [
            (
                source,
                int(batch.arrivals[i]),
                now,
                None if int(labels[i]) < 0 else int(labels[i]),
                int(batch.predicted[i]),
                float(batch.scores[i]),
                batch.reasons[i],
                dtype,
                shape,
                nbytes,
                arrays[i].tobytes(),
            )
            for i in range(len(batch))
        ]
        offered_before = self.counter("offered")
        self._bump("offered", len(rows))
        cap = self.capacity
        if cap.max_samples is None and cap.max_bytes is None:
            return self._insert_rows(rows)
        if cap.policy == "reject":
            room = self._room_for(nbytes)
            self._bump("rejected_full", max(0, len(rows) - room))
            return self._insert_rows(rows[:room])
        if cap.policy in DRIVEN_POLICIES:
            return self._insert_driven(rows, batch)
        stored = 0
        decide = {"evict_lowest": lambda row, i: self._evict_lowest(row), "reservoir": self._reservoir,
                  "class_balanced": self._class_balanced, "gdumb": self._gdumb}[cap.policy]
        for i, row in enumerate(rows, start=offered_before + 1):  # each decides against the current contents
            stored += decide(row, i)
        return stored

    def _insert_rows(self, rows) -> int:
        if rows:
            self._conn.executemany(
                "INSERT INTO samples (source, arrival, time, label, predicted, score, reason, dtype, shape, "
                "nbytes, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._bump("stored", len(rows))
            self._bump("stored_bytes", sum(r[9] for r in rows))
        return len(rows)

    def _insert_driven(self, rows, batch: RetainedBatch) -> int:
        """The label-free policies (edgesieve.store.policy_driver): the policy's slot decides."""
        driven = self._driven
        scores = None
        if driven.score_kind is not None:
            if batch.probs is None:
                raise ValueError(
                    f"the {self.capacity.policy} policy reads the model's {driven.score_kind} of each sample, which this "
                    "filter does not give: an .onnx exported by an earlier edgesieve lacks the softmax (export it again), "
                    "and a model-free selector has none")
            scores = driven.scores(batch.probs, batch.labels)
        stored = 0
        for i, row in enumerate(rows):
            slot, replaced = driven.offer(row[4], None if scores is None else float(scores[i]), row[3])
            if slot is None:
                self._bump("rejected_full", 1)
                continue
            if replaced is not None:
                nbytes = self._conn.execute("SELECT nbytes FROM samples WHERE id = ?", (replaced,)).fetchone()[0]
                self._delete(replaced, nbytes)
            self._insert_rows([row])
            driven.bind(slot, self._conn.execute("SELECT last_insert_rowid()").fetchone()[0])
            stored += 1
        return stored

    def label(self, ids, labels) -> int:
        """Label stored samples after the fact (the device loop: what is kept gets labelled), in
        one transaction: every id must be stored and every label a class >= 0 (below the model's
        number of classes where the store knows it), or nothing changes. The class-aware policies
        count a sample in its label's class from then on (CBRS and GDumb: label, else predicted
        class; ``trust_balanced:labelled_store=true``: its slot moves to that class). Returns how
        many were labelled.

        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "s.db"
        >>> with RetainedStore(path) as store:
        ...     _ = store.commit("s", RetainedBatch(np.zeros((2, 3), np.float32), np.arange(2), np.zeros(2, int),
        ...                                       np.ones(2), ["outside_window"] * 2), BatchTally(2, np.zeros(2, int), np.ones(2, bool), 12))
        ...     store.label([1], [4]), store.read(1)["label"], store.info()["class_source"]
        (1, 4, {'label': 1, 'predicted': 1})
        """
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        ids, labels = np.asarray(ids).reshape(-1), np.asarray(labels).reshape(-1)
        if ids.shape != labels.shape:
            raise ValueError(f"{len(ids)} sample ids but {len(labels)} labels")
        for what, values in (("sample ids", ids), ("labels", labels)):
            if values.size and not np.issubdtype(values.dtype, np.integer):
                raise ValueError(f"{what} must be integers, got {values.dtype}")
        if len(set(ids.tolist())) != len(ids):
            raise ValueError("each sample id may be labelled once per call")
        n_classes = self.capacity.n_classes
        bad = labels[(labels < 0) | ((labels >= n_classes) if n_classes else False)]
        if bad.size:
            raise ValueError(f"labels must be classes in [0, {n_classes or 'C'}), got {bad[:5].tolist()}")
        try:
            with self._transaction():
                present = {r[0] for r in self._conn.execute(
                    f"SELECT id FROM samples WHERE id IN ({','.join('?' * len(ids))})", ids.tolist())} if len(ids) else set()
                missing = [int(i) for i in ids if int(i) not in present]
                if missing:
                    raise ValueError(f"no stored sample with id {missing[:5]}{' and more' if len(missing) > 5 else ''}; "
                                     "nothing was labelled (a sample evicted since it was exported is gone)")
                self._conn.executemany("UPDATE samples SET label = ? WHERE id = ?",
                                       [(int(y), int(i)) for i, y in zip(ids, labels)])
                if self._driven is not None:
                    for i, y in zip(ids, labels):
                        self._driven.label(int(i), int(y))
                    self._driven.save()
        except BaseException:
            if self._driven is not None:
                self._driven.forget()
            raise
        return int(len(ids))

    def _room_for(self, nbytes: int) -> int:
        """How many samples of ``nbytes`` fit under the capacity now."""
        count, size = self.counter("stored"), self.counter("stored_bytes")
        room = []
        if self.capacity.max_samples is not None:
            room.append(self.capacity.max_samples - count)
        if self.capacity.max_bytes is not None:
            room.append((self.capacity.max_bytes - size) // max(1, nbytes))
        return max(0, min(room))

    def _delete(self, sample_id: int, nbytes: int) -> None:
        self._conn.execute("DELETE FROM samples WHERE id = ?", (sample_id,))
        self._bump("stored", -1)
        self._bump("stored_bytes", -nbytes)
        self._bump("evicted", 1)

    def _evict_lowest(self, row) -> int:
        if self._room_for(row[9]) > 0:
            return self._insert_rows([row])
        lowest = self._conn.execute("SELECT id, score, nbytes FROM samples ORDER BY score LIMIT 1").fetchone()
        if lowest is None or lowest[1] >= row[5]:
            self._bump("rejected_full", 1)
            return 0
        self._delete(lowest[0], lowest[2])
        return self._insert_rows([row])

    def _reservoir(self, row, i: int) -> int:
        # Algorithm R over every sample offered to the store: the i-th (1-based) is kept with
        # probability k/i, replacing a uniformly chosen one. The draws depend only on (seed, i),
        # so a resumed stream makes the same choices.
        if self._room_for(row[9]) > 0:
            return self._insert_rows([row])
        rng = default_rng((self.capacity.seed, i))
        if rng.random() >= self.capacity.max_samples / i:
            self._bump("rejected_full", 1)
            return 0
        count = self.counter("stored")
        victim = self._conn.execute(
            "SELECT id, nbytes FROM samples ORDER BY id LIMIT 1 OFFSET ?", (int(rng.integers(count)),)
        ).fetchone()
        self._delete(*victim)
        return self._insert_rows([row])

    # -- class-balancing policies (SPEC section 4). A row's class: its label, else the predicted
    # class. Per-class offered counts and CBRS's "has been largest" flags are counters in the same
    # transaction as the samples, so a crash or a resumed stream sees them exactly as committed.

    _CLASS = "COALESCE(label, predicted)"

    def _class_of(self, row) -> int:
        return int(row[3]) if row[3] is not None else int(row[4])

    def _upsert(self, name: str, delta: int) -> None:
        self._conn.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                           "value = value + excluded.value", (name, int(delta)))

    def _stored_per_class(self) -> dict[int, int]:
        return dict(self._conn.execute(f"SELECT {self._CLASS}, COUNT(*) FROM samples GROUP BY {self._CLASS}").fetchall())

    def _replace_in_class(self, row, c: int, rng) -> int:
        members = self._stored_per_class().get(c, 0)
        victim = self._conn.execute(f"SELECT id, nbytes FROM samples WHERE {self._CLASS} = ? ORDER BY id LIMIT 1 OFFSET ?",
                                    (c, int(rng.integers(members)))).fetchone()
        self._delete(*victim)
        return self._insert_rows([row])

    def _largest(self, per_class: dict[int, int], rng) -> int:
        top = max(per_class.values())
        largest = sorted(k for k, v in per_class.items() if v == top)
        return largest[int(rng.integers(len(largest)))]

    def _class_balancing(self, row, i: int, when_full) -> int:
        """The steps both class-balancing policies share: count the arrival in its class, store
        while there is room; when full, ``when_full(c, per_class, rng)`` says which class loses a
        uniformly chosen sample to the arrival (None: the arrival is dropped). The draws depend
        only on (seed, i), so a resumed stream makes the same choices."""
        c = self._class_of(row)
        self._upsert(f"offered_class_{c}", 1)
        if self._room_for(row[9]) > 0:
            return self._insert_rows([row])
        rng = default_rng((self.capacity.seed, i))
        victim_class = when_full(c, self._stored_per_class(), rng)
        if victim_class is None:
            self._bump("rejected_full", 1)
            return 0
        return self._replace_in_class(row, victim_class, rng)

    def _class_balanced(self, row, i: int) -> int:
        """CBRS (Chrysakis and Moens, ICML 2020): see edgesieve.store.policies.class_balanced."""
        def when_full(c, per_class, rng):
            top = max(per_class.values())
            for k, v in per_class.items():
                if v == top:
                    self._upsert(f"full_class_{k}", 0)  # the counter's presence: has been the largest class
            if self._conn.execute("SELECT 1 FROM counters WHERE name = ?", (f"full_class_{c}",)).fetchone() is None:
                return self._largest(per_class, rng)
            m_c, n_c = per_class.get(c, 0), self.counter(f"offered_class_{c}")
            return c if m_c and rng.random() < m_c / n_c else None

        return self._class_balancing(row, i, when_full)

    def _gdumb(self, row, i: int) -> int:
        """GDumb's sampler (Prabhu et al., ECCV 2020): see edgesieve.store.policies.gdumb."""
        def when_full(c, per_class, rng):
            seen = self._conn.execute("SELECT COUNT(*) FROM counters WHERE substr(name, 1, 14) = 'offered_class_'").fetchone()[0]
            return self._largest(per_class, rng) if per_class.get(c, 0) < self.capacity.max_samples / seen else None

        return self._class_balancing(row, i, when_full)

    def _tally(self, source: str, tally: BatchTally) -> None:
        self._conn.execute(
            "INSERT INTO progress VALUES (?, ?) ON CONFLICT(source) DO UPDATE SET next_arrival = excluded.next_arrival",
            (source, int(tally.next_arrival)),
        )
        classes = np.asarray(tally.seen_classes, dtype=np.int64)
        kept = np.asarray(tally.kept_mask, dtype=bool)
        if classes.size:
            n = int(classes.max()) + 1
            seen = np.bincount(classes, minlength=n)
            kept_n = np.bincount(classes[kept], minlength=n)
            self._conn.executemany(
                "INSERT INTO class_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT(class) DO UPDATE SET "
                "seen = seen + excluded.seen, kept = kept + excluded.kept, "
                "seen_bytes = seen_bytes + excluded.seen_bytes, kept_bytes = kept_bytes + excluded.kept_bytes",
                [
                    (int(c), int(seen[c]), int(kept_n[c]), int(seen[c]) * tally.sample_nbytes, int(kept_n[c]) * tally.sample_nbytes)
                    for c in np.flatnonzero(seen)
                ],
            )
        if tally.skipped_nonfinite:
            self._bump("skipped_nonfinite", tally.skipped_nonfinite)

    def _bump(self, name: str, delta: int) -> None:
        if delta:
            self._conn.execute("UPDATE counters SET value = value + ? WHERE name = ?", (int(delta), name))

    # -- reading ------------------------------------------------------------------------------

    def counter(self, name: str) -> int:
        row = self._conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def next_arrival(self, source: str) -> int:
        """Where a stream resumes: the arrival index after the last committed batch (0 if new)."""
        row = self._conn.execute("SELECT next_arrival FROM progress WHERE source = ?", (source,)).fetchone()
        return int(row[0]) if row else 0

    def ids(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT id FROM samples ORDER BY id")]

    def read(self, sample_id: int) -> dict:
        """One sample: its array and metadata."""
        row = self._conn.execute(
            "SELECT id, source, arrival, time, label, predicted, score, reason, dtype, shape, data "
            "FROM samples WHERE id = ?",
            (sample_id,),
        ).fetchone()
        if row is None:
            raise KeyError(f"no sample with id {sample_id}")
        return _row_to_sample(row)

    def iter_samples(self, batch_rows: int = 512) -> Iterator[dict]:
        """Every stored sample in id order, read in chunks (constant memory)."""
        last = -1
        while True:
            rows = self._conn.execute(
                "SELECT id, source, arrival, time, label, predicted, score, reason, dtype, shape, data "
                "FROM samples WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch_rows),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _row_to_sample(row)
            last = rows[-1][0]

    def to_numpy(self) -> dict[str, np.ndarray]:
        """All samples as arrays: ``x`` (N, *shape), ``label`` (-1 unknown), ``predicted``,
        ``score``, ``arrival``, ``id``. Samples must share one shape and dtype."""
        samples = list(self.iter_samples())
        if not samples:
            return {k: np.zeros(0) for k in ("x", "label", "predicted", "score", "arrival", "id")}
        shapes = {(s["array"].shape, s["array"].dtype.str) for s in samples}
        if len(shapes) > 1:
            raise ValueError(f"samples have {len(shapes)} different shapes/dtypes; read them with iter_samples()")
        return {
            "x": np.stack([s["array"] for s in samples]),
            "label": np.array([-1 if s["label"] is None else s["label"] for s in samples], dtype=np.int64),
            "predicted": np.array([s["predicted"] for s in samples], dtype=np.int64),
            "score": np.array([s["score"] for s in samples], dtype=np.float64),
            "arrival": np.array([s["arrival"] for s in samples], dtype=np.int64),
            "id": np.array([s["id"] for s in samples], dtype=np.int64),
        }

    def export_npz(self, path: str | Path) -> Path:
        """Every sample to an .npz that ``edgesieve filter --input`` reads back with its labels:
        ``x``, ``y`` (label, -1 unknown), ``predicted``, ``score``, ``arrival``, ``id``."""
        path = Path(path)
        arrays = self.to_numpy()
        arrays[NPZ_LABELS] = arrays.pop("label")
        np.savez(path, **arrays)
        return path

    def info(self) -> dict:
        """A summary: counts, bytes, per-class seen/kept, capacity, stream positions."""
        classes = self._conn.execute("SELECT class, seen, kept, seen_bytes, kept_bytes FROM class_counts ORDER BY class").fetchall()
        labelled, total = self._conn.execute("SELECT COUNT(label), COUNT(*) FROM samples").fetchone()
        return {
            "path": str(self.path),
            "format_version": FORMAT_VERSION,
            "created_by": self._meta("created_by"),
            "capacity": self.capacity.__dict__,
            "counters": {name: self.counter(name) for name in _COUNTERS},
            "samples": self.count(),
            "classes": [
                {"class": c, "seen": s, "kept": k, "discarded": s - k, "seen_bytes": sb, "kept_bytes": kb}
                for c, s, k, sb, kb in classes
            ],
            "sources": dict(self._conn.execute("SELECT source, next_arrival FROM progress").fetchall()),
            # whose class a class-aware policy (class_balanced, gdumb) counted each stored sample in
            "class_source": {"label": int(labelled), "predicted": int(total - labelled)},
        }

    def integrity_check(self) -> str:
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]


def _row_to_sample(row) -> dict:
    sample_id, source, arrival, t, label, predicted, score, reason, dtype, shape, data = row
    array = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))
    return {
        "id": sample_id,
        "source": source,
        "arrival": arrival,
        "time": t,
        "label": label,
        "predicted": predicted,
        "score": score,
        "reason": reason,
        "array": array,
    }
