"""On-disk cache of synthetic clips: sharded files plus a manifest holding the configuration and checksums.

Layout: <avfh_home()>/synth/<config-key>/<split>/shard_00000.pt ... and manifest.json. The key is a hash of the
full `SynthConfig` and the generator version, so a changed configuration (or renderer) never reuses a stale cache.
Each shard holds SHARD_SIZE consecutive clips; because clip i does not depend on how many clips are asked for, a
larger request extends an existing cache. Shards are written atomically and verified against the manifest's
SHA-256 on every read (the hash runs over the bytes already read for loading, so a shard corrupted on disk while a
run uses it is caught too); a corrupt shard is regenerated with a warning, and an unreadable one is an error naming
the file. Concurrent builders of the same cache (two notebooks on a cold cache) take turns through a file lock beside
the manifest: the second waits, then reads what the first built. Temp files of killed writers are removed on the
next build (avfh_core.fsutil).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import torch

from avfh_core.data.sample import AVSample
from avfh_core.fsutil import atomic_write, clean_stale_temps, clean_stale_temps_in, file_lock

SHARD_SIZE = 32


def config_key(config: dict, version: int) -> str:
    blob = json.dumps({"config": config, "version": version}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _to_record(s: AVSample) -> dict:
    """AVSample -> compact tensors (uint8 video, int16 audio) + JSON-able metadata."""
    rec = {
        "video": (s.video * 255).round().to(torch.uint8),
        "audio": (s.audio * 32767).round().to(torch.int16),
        "landmarks": s.landmarks,
        "pose": s.pose,
        "frontal": None if s.frontal is None else (s.frontal * 255).round().to(torch.uint8),
    }
    tensors = {k: v for k, v in s.extras.items() if isinstance(v, torch.Tensor)}
    rest = {k: v for k, v in s.extras.items() if not isinstance(v, torch.Tensor)}
    rec["extra_tensors"] = tensors
    rec["meta"] = json.dumps(dict(fps=s.fps, sample_rate=s.sample_rate, text=s.text, speaker=s.speaker,
                                  attributes=s.attributes, source=s.source, extras=rest))
    return rec


def _from_record(rec: dict) -> AVSample:
    meta = json.loads(rec["meta"])
    extras = dict(meta["extras"])
    for k in ("phones", "words"):
        if k in extras:
            extras[k] = [tuple(x) for x in extras[k]]
    extras.update(rec["extra_tensors"])
    attrs = meta["attributes"]
    if "lip_colour" in attrs:
        attrs["lip_colour"] = tuple(attrs["lip_colour"])
    return AVSample(
        video=rec["video"].float() / 255, fps=meta["fps"], audio=rec["audio"].float() / 32767,
        sample_rate=meta["sample_rate"], landmarks=rec["landmarks"], pose=rec["pose"], text=meta["text"],
        speaker=meta["speaker"], attributes=attrs,
        frontal=None if rec["frontal"] is None else rec["frontal"].float() / 255, source=meta["source"],
        extras=extras,
    )


def _write_shard(world, split: str, k: int, path: Path) -> None:
    recs = [_to_record(world.clip(i, split)) for i in range(k * SHARD_SIZE, (k + 1) * SHARD_SIZE)]
    clean_stale_temps(path)
    with atomic_write(path) as f:
        torch.save(recs, f)


def _build_shard(job) -> None:
    """Worker-process entry: rebuild the world from its configuration and write one shard."""
    from avfh_core.data.synth import SynthConfig, SynthWorld

    config, split, k, path = job
    torch.set_num_threads(1)
    _write_shard(SynthWorld(SynthConfig(**config)), split, k, Path(path))


class SynthDataset(torch.utils.data.Dataset):
    """The first `n_clips` clips of a world's split, generated once and then read from sharded files.

    Sequential access reads each shard once; for shuffled training, wrap it (e.g. `WindowDataset(ds)` or
    `list(ds)`) rather than sampling it at random, which would reload a shard per item."""

    def __init__(self, world, split: str, n_clips: int, cache: bool = True, root: str | os.PathLike | None = None,
                 workers: int = 0):
        if not isinstance(n_clips, int) or n_clips < 1:
            raise ValueError(f"n_clips must be a positive int, got {n_clips!r}")
        self.world, self.split, self.n = world, split, n_clips
        self.cache = cache
        self.workers = int(workers)
        if root is None:
            from avfh_core.config import avfh_home

            root = avfh_home() / "synth"
        self.dir = Path(root) / world.key / split
        self._shard_id = None
        self._shard: list[dict] | None = None
        if cache:
            self._ensure()

    @property
    def manifest_path(self) -> Path:
        return self.dir.parent / "manifest.json"

    def _manifest(self) -> dict:
        p = self.manifest_path
        if p.exists():
            try:
                m = json.loads(p.read_text())
                if m.get("key") == self.world.key:
                    return m
                warnings.warn(f"{p}: manifest key {m.get('key')!r} does not match {self.world.key!r}; rebuilding",
                              stacklevel=3)
            except json.JSONDecodeError:
                warnings.warn(f"{p}: unreadable manifest; rebuilding", stacklevel=3)
        from avfh_core.data.synth import GENERATOR_VERSION

        return {"key": self.world.key, "version": GENERATOR_VERSION, "config": self.world.config.as_dict(),
                "shards": {}}

    def _write_manifest(self, m: dict) -> None:
        clean_stale_temps(self.manifest_path)
        with atomic_write(self.manifest_path) as f:
            f.write(json.dumps(m, indent=1, sort_keys=True).encode())

    def _shard_path(self, k: int) -> Path:
        return self.dir / f"shard_{k:05d}.pt"

    def _missing(self, m: dict) -> list[int]:
        n_shards = (self.n + SHARD_SIZE - 1) // SHARD_SIZE
        return [k for k in range(n_shards)
                if not (m["shards"].get(f"{self.split}/{self._shard_path(k).name}") and self._shard_path(k).exists())]

    def _ensure(self) -> None:
        """Generate every missing shard covering clips [0, n) (one builder at a time per cache; a complete cache is
        only read, so it may sit on a read-only file system)."""
        m = self._manifest()
        if self._missing(m) or not self.manifest_path.exists():
            with file_lock(self.manifest_path):  # a concurrent builder finishes first; we then find its shards
                clean_stale_temps_in(self.dir, "shard_*.pt")  # left by builders that were killed
                m = self._manifest()
                missing = self._missing(m)
                if self.workers > 1 and len(missing) > 1:  # shards are independent: build them in parallel
                    import multiprocessing as mp

                    jobs = [(self.world.config.as_dict(), self.split, k, str(self._shard_path(k))) for k in missing]
                    with mp.get_context("spawn").Pool(min(self.workers, len(missing))) as pool:
                        pool.map(_build_shard, jobs)
                else:
                    for k in missing:
                        self._write_shard(k, self._shard_path(k))
                for k in missing:
                    path = self._shard_path(k)
                    m["shards"][f"{self.split}/{path.name}"] = {"sha256": _sha256(path), "clips": SHARD_SIZE,
                                                                "first": k * SHARD_SIZE}
                if missing or not self.manifest_path.exists():
                    self._write_manifest(m)
        self._m = m

    def _write_shard(self, k: int, path: Path) -> None:
        _write_shard(self.world, self.split, k, path)

    def _verified_bytes(self, k: int) -> bytes | None:
        """The shard's bytes if they match the manifest's SHA-256, else None (after a warning if it is corrupt)."""
        path = self._shard_path(k)
        entry = self._m["shards"].get(f"{self.split}/{path.name}")
        data = _read_bytes(path)
        if data is None or entry is None:
            return None
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            warnings.warn(f"{path}: checksum does not match the manifest (corrupt or stale); regenerating",
                          stacklevel=4)
            return None
        return data

    def _load_shard(self, k: int) -> list[dict]:
        path = self._shard_path(k)
        data = self._verified_bytes(k)
        if data is None:
            with file_lock(self.manifest_path):
                self._m = self._manifest()  # another process may have regenerated it meanwhile
                data = _read_bytes(path)
                entry = self._m["shards"].get(f"{self.split}/{path.name}")
                if data is None or entry is None or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    self._write_shard(k, path)
                    data = path.read_bytes()
                    self._m["shards"][f"{self.split}/{path.name}"] = {
                        "sha256": hashlib.sha256(data).hexdigest(), "clips": SHARD_SIZE, "first": k * SHARD_SIZE}
                    self._write_manifest(self._m)
        try:
            recs = torch.load(io.BytesIO(data), weights_only=True)
        except Exception as e:
            raise ValueError(f"{path}: unreadable cache shard although its checksum matches the manifest "
                             f"({type(e).__name__}: {e}); delete {self.dir.parent} to rebuild the cache") from e
        if not isinstance(recs, list) or len(recs) != SHARD_SIZE:
            raise ValueError(f"{path}: a cache shard must hold a list of {SHARD_SIZE} clip records, "
                             f"found {type(recs).__name__} of length {len(recs) if isinstance(recs, list) else '-'}")
        return recs

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> AVSample:
        if not -self.n <= i < self.n:
            raise IndexError(f"clip index {i} out of range for a dataset of {self.n} clips")
        i = i % self.n
        if not self.cache:
            return self.world.clip(i, self.split)
        k = i // SHARD_SIZE
        if self._shard_id != k:
            self._shard = self._load_shard(k)
            self._shard_id = k
        return _from_record(self._shard[i % SHARD_SIZE])
