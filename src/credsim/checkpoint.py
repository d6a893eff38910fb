"""Checkpoints: save a run as it goes, and resume it after a crash or a kill.

A run is saved every K days when asked (``checkpoint_every = K``), or by default by the
clock: once it has run a minute since it started or was last saved, and twenty times as
long as that save took, so that saving costs at most about 5% of the run and a kill loses
about a minute of work, whatever the population. A run shorter than a minute is not saved:
it is cheaper to run again.

A run is determined by its scenario and seed, and each day's randomness by (seed, day,
phase) alone (:func:`credsim.engines.reference.step.day_streams`). So what a resumed run needs is only what
the days so far have changed: every :class:`~credsim.state.State` array and scalar, its two
growable logs (episodes, appeal queue), and the :class:`~credsim.engines.reference.phases.record.Recorder`'s
rows up to the day reached. The :class:`~credsim.world.World` is not saved: it is rebuilt
from the scenario and the seed, and a fingerprint of it, taken when the checkpoint was
written, proves on resume that the rebuilt world is the same one (it would not be under a
different NumPy, whose distributions may draw other numbers).

One checkpoint is kept, ``checkpoint.npz`` in the checkpoint folder (``RUN/.checkpoint``
for the command line). It is written with ``np.savez`` to a temporary file in the same
folder, flushed to disk (fsync) and moved over the previous one with ``os.replace``: a
kill or a full disk at any moment leaves either the previous checkpoint or the new one,
never a half-written file under the real name. Nothing in it is pickled. A SHA-256 over
every array in it (the per-person state, the logs, the recorder's rows, the meta) is saved
with them and checked on resume: an altered or damaged checkpoint is a CorruptRunError
naming the file, never a resumed run with other numbers.

A run resumed from a checkpoint gives outputs byte-identical to the uninterrupted run
(``tests/test_checkpoint.py`` kills ``credsim run`` with SIGKILL and checks it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from credsim import __version__
from credsim.errors import CorruptRunError, CredsimError
from credsim.engines.reference.phases.record import Recorder
from credsim.results.manifest import fsync_folder
from credsim.scenario import to_toml, validate_dict
from credsim.scenario.schema import Scenario
from credsim.state import Growable, State
from credsim.world import World

FOLDER = ".checkpoint"  # inside a run's output folder
FILE = "checkpoint.npz"
FORMAT = 4  # 2 added the fast path's sets and sums to the state; 3 its kept set of the listed; 4 the digest
DIGEST = "sha256"  # the member holding the SHA-256 of every other member (arrays and meta)
BY_CLOCK_SECONDS = 60.0  # by default a run is saved once it has gone this long since the last save...
BY_CLOCK_SHARE = 0.05  # ... and long enough that saving takes at most this share of its time


def folder_of(path: str | Path) -> Path:
    """The checkpoint folder for ``path``: a run folder's ``.checkpoint``, or ``path`` itself."""
    path = Path(path)
    return path if path.name == FOLDER or (path / FILE).is_file() else path / FOLDER


@dataclass(frozen=True)
class Plan:
    """What a checkpoint says about its run: enough to resume it."""

    folder: Path  # the checkpoint folder
    scenario: Scenario
    seed: int
    day: int  # days done: the resumed run starts with this day
    every: int | None  # days between checkpoints; None: by the clock


class Checkpoints:
    """Saves a run's state into ``folder`` every ``every`` days (0: never; None: by the
    clock, see the module's docstring); may hold a state to start from.

    Used by :func:`credsim.simulate` (a fresh run, ``start=None``) and :func:`resume`.
    """

    def __init__(self, folder: str | Path, scenario: Scenario, seed: int, every: int | None, start: Path | None = None):
        if every is not None and (not isinstance(every, int) or isinstance(every, bool) or every < 0):
            raise CredsimError(f"checkpoint_every must be a whole number of days >= 0; got {every!r}")
        self.folder = Path(folder)
        self.scenario, self.seed = scenario, seed
        self.every = every
        self.start = start  # a checkpoint file to resume from, or None for a fresh run
        self._fingerprint: str | None = None
        self._since = _clock()  # when the run started or was last saved
        self._save_seconds = 0.0  # how long the last save took
        self._regime, self._day = 0, 0  # where a restored checkpoint's timeline stood

    # -- the run calls these -------------------------------------------------------------

    def restore(self, world: World, state: State, recorder: Recorder) -> int:
        """Start of the run: load the checkpoint into ``state`` and ``recorder`` (built fresh
        for ``world``) and return the first day to simulate; 0 for a fresh run, whose
        folder's old checkpoint, if any, is discarded."""
        for stale in self.folder.glob(".checkpoint-*.partial"):
            stale.unlink(missing_ok=True)  # left by a write that was killed
        self.fingerprint(world)  # of the world as built: a timeline's changes replace it during the run
        self._since = _clock()
        if self.start is None:
            (self.folder / FILE).unlink(missing_ok=True)
            return 0
        arrays, meta = _read(self.start)
        if meta["credsim_version"] != __version__:
            raise CredsimError(
                f"{self.start}: written by credsim {meta['credsim_version']}; this is credsim {__version__}, whose model "
                "may differ. A checkpoint resumes only under the version that wrote it: run the scenario again."
            )
        if meta["world"] != self.fingerprint(world):
            raise CorruptRunError(
                f"{self.start}: the world rebuilt from the scenario and seed differs from the one this checkpoint "
                f"was taken in (saved with credsim {meta['credsim_version']}, NumPy {meta['numpy_version']}; "
                f"this is credsim {__version__}, NumPy {np.__version__}); it cannot be resumed here"
            )
        self._regime = meta.get("timeline_regime", 0)
        _load_state(state, arrays, meta)
        _load_recorder(recorder, arrays, meta["day"])
        self._day = meta["day"]
        return meta["day"]

    def after_day(self, world: World, state: State, recorder: Recorder, days_done: int) -> None:
        """Save when ``days_done`` is a multiple of ``every``, or by the clock, while the run
        is not over."""
        if days_done >= recorder.days:
            return
        if self.every is None:
            due = _clock() - self._since >= max(BY_CLOCK_SECONDS, self._save_seconds / BY_CLOCK_SHARE)
        else:
            due = self.every > 0 and days_done % self.every == 0
        if due:
            self.save(world, state, recorder, days_done)

    def save(self, world: World, state: State, recorder: Recorder, days_done: int) -> Path:
        meta = {
            "format": FORMAT,
            "credsim_version": __version__,
            "numpy_version": np.__version__,
            "scenario_toml": to_toml(self.scenario),
            "seed": self.seed,
            "day": days_done,
            "every": self.every,
            "world": self.fingerprint(world),
            "timeline_regime": world.regime,  # how many of the timeline's change days have passed
        }
        started = _clock()
        arrays = {**_dump_state(state, meta), **_dump_recorder(recorder, days_done)}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
        arrays[DIGEST] = np.frombuffer(_arrays_digest(arrays).encode("ascii"), np.uint8)
        written = _write_atomic(self.folder, arrays)
        self._since = _clock()
        self._save_seconds = self._since - started
        return written

    def check_regime(self, regime: int) -> None:
        """On resume: the timeline must stand where the checkpoint says it stood."""
        if regime != self._regime:
            raise CorruptRunError(
                f"{self.start}: saved after {self._regime} of the timeline's change days; its scenario's timeline "
                f"has {regime} before day {self._day}"
            )

    def fingerprint(self, world: World) -> str:
        if self._fingerprint is None:
            digest = hashlib.sha256()
            _digest(world, digest)
            self._fingerprint = digest.hexdigest()
        return self._fingerprint


# ------------------------------------------------------------------------------ public


def read_plan(path: str | Path) -> Plan:
    """Read the checkpoint in ``path`` (a run folder or a checkpoint folder) without running
    anything. Raises :class:`CredsimError` when there is none, :class:`CorruptRunError`
    when it cannot be read."""
    folder = folder_of(path)
    file = folder / FILE
    if not file.is_file():
        if (Path(path) / "manifest.json").is_file():
            raise CredsimError(f"{path}: no checkpoint to resume; the folder holds a complete run")
        raise CredsimError(f"{path}: no checkpoint to resume (looked for {file})")
    _, meta = _read(file)
    try:
        scenario = validate_dict(tomllib.loads(meta["scenario_toml"]), f"{file} (scenario)")
    except (tomllib.TOMLDecodeError, CredsimError) as error:
        raise CorruptRunError(f"{file}: the scenario saved in the checkpoint does not load: {error}") from None
    every = meta["every"]
    if every is not None and (not isinstance(every, int) or isinstance(every, bool) or every < 0):
        raise CorruptRunError(f"{file}: its checkpoint interval 'every' is {every!r}; expected a whole number of days >= 0, or null (by the clock)")
    return Plan(folder, scenario, int(meta["seed"]), int(meta["day"]), every)


def resume(checkpoint_dir: str | Path, progress=None, checkpoint_every: int | None = None):
    """Continue the run saved in ``checkpoint_dir`` (a checkpoint folder, or a run folder
    holding ``.checkpoint/``) and return its :class:`~credsim.RunResult`, identical to the
    uninterrupted run's. It goes on saving checkpoints there, every ``checkpoint_every``
    days (default: as before, which may be by the clock). The checkpoint is left in place:
    :func:`discard` it once the outputs are written."""
    from credsim.simulate import run_from  # simulate imports this module

    plan = read_plan(checkpoint_dir)
    every = plan.every if checkpoint_every is None else checkpoint_every
    checkpoints = Checkpoints(plan.folder, plan.scenario, plan.seed, every, start=plan.folder / FILE)
    return run_from(plan.scenario, plan.seed, progress, checkpoints)


def discard(path: str | Path) -> None:
    """Delete the checkpoint folder of ``path`` (a run folder or a checkpoint folder), and
    staging folders that a killed write left in a run folder."""
    path = Path(path)
    folder = folder_of(path)
    if folder.name == FOLDER and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
    run_dir = folder.parent if folder.name == FOLDER else path
    for stale in run_dir.glob(".credsim-partial-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


# ------------------------------------------------------------------------------ state


def _dump_state(state: State, meta: dict) -> dict[str, np.ndarray]:
    """Every field of ``state``; a field of a kind not handled here is an error, so a new
    field cannot be silently left out of checkpoints."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, str] = {}
    growables: dict[str, dict] = {}
    lists: dict[str, int] = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if isinstance(value, np.ndarray):
            arrays[f"state:{f.name}"] = value
        elif isinstance(value, Growable):
            growables[f.name] = {"size": value.size, "capacity": len(next(iter(value.columns.values())))}
            for column, data in value.columns.items():
                arrays[f"log:{f.name}:{column}"] = data[: value.size]
        elif isinstance(value, (bool, int, float, np.generic)):
            kind = type(value).__name__ if not isinstance(value, np.generic) else f"numpy:{value.dtype.str}"
            scalars[f.name] = kind
            arrays[f"scalar:{f.name}"] = np.asarray(value)
        elif isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
            lists[f.name] = len(value)
            for k, item in enumerate(value):
                arrays[f"list:{f.name}:{k}"] = item
        else:
            raise TypeError(f"checkpoint: State.{f.name} is a {type(value).__name__}; teach credsim.checkpoint to save it")
    meta["scalars"], meta["growables"], meta["lists"] = scalars, growables, lists
    return arrays


def _load_state(state: State, arrays: dict[str, np.ndarray], meta: dict) -> None:
    for f in dataclasses.fields(state):
        current = getattr(state, f.name)
        if isinstance(current, np.ndarray):
            saved = _get(arrays, f"state:{f.name}")
            if f.name in type(state).VARIABLE and saved.ndim == current.ndim and saved.dtype == current.dtype:
                setattr(state, f.name, saved.copy())
                continue
            if saved.shape != current.shape or saved.dtype != current.dtype:
                raise CorruptRunError(
                    f"checkpoint: State.{f.name} is {saved.dtype}{saved.shape}; this run expects {current.dtype}{current.shape}"
                )
            current[...] = saved
        elif isinstance(current, Growable):
            info = meta["growables"][f.name]
            for column, data in current.columns.items():
                saved = _get(arrays, f"log:{f.name}:{column}")
                grown = np.empty(max(info["capacity"], info["size"]), data.dtype)
                grown[: info["size"]] = saved
                current.columns[column] = grown
            current.size = info["size"]
        elif f.name in meta["scalars"]:
            kind, raw = meta["scalars"][f.name], _get(arrays, f"scalar:{f.name}")
            if kind.startswith("numpy:"):
                value = raw.astype(np.dtype(kind[6:]))[()]
            else:
                value = {"bool": bool, "int": int, "float": float}[kind](raw.item())
            setattr(state, f.name, value)
        elif f.name in meta["lists"]:
            setattr(state, f.name, [_get(arrays, f"list:{f.name}:{k}").copy() for k in range(meta["lists"][f.name])])
        else:
            raise CorruptRunError(f"checkpoint: no saved value for State.{f.name}")


def _dump_recorder(recorder: Recorder, days_done: int) -> dict[str, np.ndarray]:
    arrays = {f"daily:{name}": values[:days_done] for name, values in recorder.columns.items()}
    arrays.update({f"regions:{name}": values[:days_done] for name, values in recorder.region_columns.items()})
    arrays.update({f"behaviours:{name}": values[:days_done] for name, values in recorder.behaviour_columns.items()})
    return arrays


def _load_recorder(recorder: Recorder, arrays: dict[str, np.ndarray], days_done: int) -> None:
    for prefix, table in (("daily", recorder.columns), ("regions", recorder.region_columns), ("behaviours", recorder.behaviour_columns)):
        saved_names = {key.split(":", 1)[1] for key in arrays if key.startswith(prefix + ":")}
        if saved_names != set(table):
            raise CorruptRunError(f"checkpoint: the saved {prefix} columns differ from this credsim's")
        for name, values in table.items():
            saved = arrays[f"{prefix}:{name}"]
            if saved.shape != values[:days_done].shape:
                raise CorruptRunError(f"checkpoint: {prefix} column {name} is {saved.shape}; expected {values[:days_done].shape}")
            values[:days_done] = saved


def _get(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    try:
        return arrays[key]
    except KeyError:
        raise CorruptRunError(f"checkpoint: {key} is missing") from None


# ------------------------------------------------------------------------------ files


def _clock() -> float:
    """Seconds on a monotonic clock (a function of its own, so that tests can move time)."""
    return time.perf_counter()


def _write_atomic(folder: Path, arrays: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        target = folder / FILE
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_folder(folder)
    return target


def _read(file: Path) -> tuple[dict[str, np.ndarray], dict]:
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        saved = arrays.pop(DIGEST, None)
        intact = saved is not None and saved.dtype == np.uint8 and saved.tobytes().decode("ascii", "replace") == _arrays_digest(arrays)
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as error:
        raise CorruptRunError(f"{file}: not a readable credsim checkpoint ({error})") from None
    except Exception as error:  # zipfile.BadZipFile and friends
        raise CorruptRunError(f"{file}: not a readable credsim checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CorruptRunError(f"{file}: checkpoint format {found!r}; this credsim reads format {FORMAT}")
    if not intact:
        raise CorruptRunError(f"{file}: the SHA-256 of its arrays is not the one saved with them; "
                              "the checkpoint was altered or damaged: run again from the start")
    missing = {"credsim_version", "numpy_version", "scenario_toml", "seed", "day", "every", "world", "scalars", "growables", "lists"} - set(meta)
    if missing:
        raise CorruptRunError(f"{file}: checkpoint lacks {', '.join(sorted(missing))}")
    return arrays, meta


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every array of a checkpoint (the per-person state, the logs, the
    recorder's rows, the meta), in key order, with each one's name, dtype and shape."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        if key == DIGEST:
            continue
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{len(key)}:{key} {value.dtype.str} {value.shape}\n".encode("utf-8"))
        digest.update(value.data if value.size else b"")
    return digest.hexdigest()


def _digest(value, digest) -> None:
    """Feed everything a World holds (arrays, numbers, names; not the scenario, which the
    checkpoint saves as text) into ``digest``, in a fixed order."""
    if isinstance(value, np.ndarray):
        digest.update(f"array {value.dtype.str} {value.shape}".encode())
        digest.update(np.ascontiguousarray(value).data)
    elif isinstance(value, Scenario):
        digest.update(b"scenario")
    elif dataclasses.is_dataclass(value):
        digest.update(type(value).__name__.encode())
        for f in dataclasses.fields(value):
            digest.update(f.name.encode())
            _digest(getattr(value, f.name), digest)
    elif isinstance(value, (list, tuple)):
        digest.update(f"seq {len(value)}".encode())
        for item in value:
            _digest(item, digest)
    elif isinstance(value, dict):
        digest.update(f"dict {len(value)}".encode())
        for key in sorted(value, key=str):
            digest.update(str(key).encode())
            _digest(value[key], digest)
    else:
        digest.update(repr(value).encode())
