"""Fault injection: kills inside checkpoint writes, planted pickles, truncated/empty/non-finite checkpoints, shards
corrupted while a run uses them, concurrent cold-cache builders, read-only folders, divergence.

Marked `faults`; the ones that start extra processes are also `slow`. Run them all with `pytest -m faults`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from avfh_core import fsutil
from avfh_core.data.synth import SynthConfig, SynthWorld
from avfh_core.train import checkpoint as ck
from avfh_core.train.loop import TrainingDiverged, train_loop
from tests.test_train_loop import plain_step_fn

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, *args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    """Start `code` in a fresh interpreter that imports this checkout's avfh_core."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _net(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    return net, torch.optim.Adam(net.parameters(), lr=1e-2)


def _batch(step):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(8, 4, generator=g)
    return x, x.sum(1, keepdim=True)


def _train(path=None, steps=10, seed=0, **kw):
    net, opt = _net(seed)
    log = train_loop(plain_step_fn(net, opt), {"net": net}, {"net": opt}, _batch, steps, checkpoint_path=path,
                     checkpoint_every=5 if path else 0, progress=False, **kw)
    return net, log


def _temps(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.tmp*"))


# ---------------------------------------------------------------------------------------------------------------
# Kill inside a checkpoint write


KILL_IN_WRITE = """
    import os, signal, sys
    import torch
    sys.path.insert(0, sys.argv[2])
    from test_faults import _train

    real_save = torch.save
    writes = []

    def dying_save(obj, f, *a, **k):  # the step-10 checkpoint: half of it reaches the disk, then SIGKILL
        writes.append(1)
        if len(writes) < 2:
            return real_save(obj, f, *a, **k)
        import io
        buf = io.BytesIO()
        real_save(obj, buf, *a, **k)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = dying_save
    _train(sys.argv[1])
"""


@pytest.mark.slow  # one extra process
def test_kill_inside_checkpoint_write_keeps_the_last_checkpoint_and_the_next_start_cleans_up(tmp_path):
    path = tmp_path / "run.pt"
    p = _python(KILL_IN_WRITE, str(path), str(ROOT / "tests"))
    out, err = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL, err
    assert ck.load_checkpoint(path)["step"] == 5  # the half-written step-10 file never replaced it
    left = _temps(path)
    assert len(left) == 1 and left[0].stat().st_size > 0  # what the killed writer left

    net, log = _train(path)  # the next start: resumes from step 5 and removes the dead writer's temp file
    assert log.resumed_from == 5 and _temps(path) == []
    straight, _ = _train(tmp_path / "straight.pt")
    for a, b in zip(net.state_dict().values(), straight.state_dict().values()):
        assert torch.equal(a, b)  # bit-identical to the run that was never killed


def test_clean_stale_temps_removes_dead_writers_files_only(tmp_path):
    target = tmp_path / "m.pt"
    # a writer of this host that died (its pid is gone), and the name today's older code used (before this process)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    dead_tmp = target.with_name(f".m.pt.tmp-{fsutil._HOST}-{dead_pid}")
    legacy = target.with_name(".m.pt.tmp-12345")
    for f in (dead_tmp, legacy):
        f.write_bytes(b"x" * 100)
    old = fsutil.PROCESS_START - 60
    os.utime(legacy, (old, old))
    # a live writer in another process, holding its temp file (started before this test, and it is old too)
    live = _python("""
        import sys, time
        from avfh_core.fsutil import atomic_write
        with atomic_write(sys.argv[1]) as f:
            f.write(b"partial")
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
    """, str(target))
    try:
        assert live.stdout.readline().strip() == "writing"
        live_tmp = target.with_name(f".m.pt.tmp-{fsutil._HOST}-{live.pid}")
        assert live_tmp.exists()
        os.utime(live_tmp, (old, old))  # even older than this process: the lock still protects it
        removed = fsutil.clean_stale_temps(target)
        assert sorted(removed) == sorted([dead_tmp, legacy])
        assert live_tmp.exists() and not dead_tmp.exists() and not legacy.exists()
        mine = fsutil.temp_path(target)  # our own pid: never taken for stale
        mine.write_bytes(b"y")
        assert fsutil.clean_stale_temps(target) == [] and mine.exists()
    finally:
        live.kill()
        live.wait()
    assert fsutil.clean_stale_temps(target) == [live_tmp]  # once its writer is dead


def test_shard_temps_of_killed_builders_are_removed_on_the_next_build(tmp_path):
    w = _world()
    ds = w.dataset("train", n_clips=3, root=tmp_path)
    old = fsutil.PROCESS_START - 60
    left = [ds.dir / ".shard_00007.pt.tmp-99999", ds.dir / f".shard_00000.pt.tmp-{fsutil._HOST}-99999"]
    for f in left:  # a shard this build does not need, and one it has
        f.write_bytes(b"x" * 1000)
        os.utime(f, (old, old))
    w.dataset("train", n_clips=40, root=tmp_path)  # builds shard 1: the build cleans the folder first
    assert not any(f.exists() for f in left)
    assert sorted(p.name for p in ds.dir.iterdir()) == ["shard_00000.pt", "shard_00001.pt"]


def test_failed_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "m.pt"
    with pytest.raises(RuntimeError, match="disk full"), fsutil.atomic_write(target) as f:
        f.write(b"half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# Planted, truncated, empty and non-finite checkpoints


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(path: Path, marker: Path, wrap=lambda evil: {"x": evil}) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(wrap(_Evil(marker)), path)


def test_planted_pickle_is_refused_and_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "PWNED"
    # as a training checkpoint that train_loop would resume from
    ckpt = tmp_path / "train.pt"
    _plant(ckpt, marker)
    with pytest.raises(ValueError, match=r"train\.pt: refused: it is not weights-only.*GLOBAL posix\.system"):
        _train(ckpt)
    # as a cached network (lip reader / feature net) that load_or_train would load
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    cached = ck.cached_model_path("toy", {"w": 1})
    _plant(cached, marker)
    with pytest.raises(ValueError, match=cached.name):
        ck.load_or_train("toy", {"w": 1}, torch.nn.Linear(2, 2), lambda m: {})
    # as a cache shard, with the manifest's checksum forged to match
    w = SynthWorld(SynthConfig(image_size=16, num_frames=2, vocab_size=4, n_train_identities=3, n_test_identities=2))
    ds = w.dataset("train", n_clips=3, root=tmp_path / "synth")
    shard = ds._shard_path(0)
    _plant(shard, marker, wrap=lambda evil: [evil])
    manifest = json.loads(ds.manifest_path.read_text())
    manifest["shards"][f"train/{shard.name}"]["sha256"] = hashlib.sha256(shard.read_bytes()).hexdigest()
    ds.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=shard.name):
        w.dataset("train", n_clips=3, root=tmp_path / "synth")[0]
    assert not marker.exists()


def test_truncated_and_empty_checkpoints_name_the_file(tmp_path):
    good = ck.save_checkpoint({"w": torch.randn(64, 64), "step": 3}, tmp_path / "good.pt")
    blob = good.read_bytes()
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"trunc\.pt: not a readable checkpoint \(truncated"):
        ck.load_checkpoint(trunc)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pt: empty checkpoint \(0 bytes"):
        ck.load_checkpoint(empty)
    with pytest.raises(ValueError, match=r"empty\.pt: empty checkpoint"):  # also where train_loop resumes
        _train(empty)


def test_checkpoint_save_refuses_non_finite_weights_naming_the_tensor(tmp_path):
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight[0, 1] = float("nan")
        net.bias[1] = float("inf")
    path = tmp_path / "a.pt"
    with pytest.raises(ValueError, match=r"a\.pt: refusing .*model\.weight \(1 of 6 values\), model\.bias \(1 of 2"):
        ck.save_checkpoint({"model": net.state_dict()}, path)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file
    # a checkpoint with non-finite weights written elsewhere (or by older code) is refused on load as well
    torch.save({"model": net.state_dict()}, path)
    with pytest.raises(ValueError, match=r"a\.pt: checkpoint holds non-finite values in model\.weight"):
        ck.load_checkpoint(path)


def test_non_finite_loss_stops_training_naming_step_and_term(tmp_path):
    net, opt = _net()
    path = tmp_path / "run.pt"

    def step_fn(batch, step):
        values = plain_step_fn(net, opt)(batch, step)
        return {**values, "lip": float("nan") if step == 6 else 0.5}  # step index 6 = the 7th step

    with pytest.raises(TrainingDiverged, match=r"step 7 of 10: non-finite loss term 'lip'=nan"):
        train_loop(step_fn, {"net": net}, {"net": opt}, _batch, 10, checkpoint_path=path, checkpoint_every=5,
                   progress=False)
    assert ck.load_checkpoint(path)["step"] == 5  # the last good checkpoint is kept


def test_divergence_at_huge_lr_stops_before_any_non_finite_checkpoint(tmp_path):
    """The issue's lr=1e9 run: weights blow up while the loss of that step is still finite. The run must stop
    naming the step and the tensor, and every checkpoint it wrote must be finite (a rerun can resume)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.SGD(net.parameters(), lr=1e9)
    path = tmp_path / "run.pt"
    with pytest.raises(TrainingDiverged, match=r"train: step \d+ of 50: .*non-finite") as info:
        train_loop(plain_step_fn(net, opt), {"net": net}, {"net": opt}, _batch, 50, checkpoint_path=path,
                   checkpoint_every=1, progress=False)
    assert "net." in str(info.value) or "'mse'" in str(info.value)  # names the tensor or the term
    assert not ck.nonfinite_tensors(ck.load_checkpoint(path, allow_nonfinite=True))


def test_planted_non_finite_weight_after_a_finite_loss_stops_training_naming_the_tensor(tmp_path):
    net, opt = _net()
    path = tmp_path / "run.pt"

    def step_fn(batch, step):
        values = plain_step_fn(net, opt)(batch, step)
        if step == 6:
            with torch.no_grad():
                net[0].weight[2, 1] = float("inf")
        return values

    with pytest.raises(TrainingDiverged, match=r"step 7 of 10: the update made weights non-finite in "
                                               r"net\.0\.weight \(1 of 32 values\) although the loss terms were "
                                               r"finite \(mse="):
        train_loop(step_fn, {"net": net}, {"net": opt}, _batch, 10, checkpoint_path=path, checkpoint_every=1,
                   progress=False)
    assert ck.load_checkpoint(path)["step"] == 6  # the last checkpoint is the last finite state


def test_an_error_raised_by_a_diverged_step_fn_is_reported_as_divergence():
    net, opt = _net()

    def step_fn(batch, step):  # like lsgan_g_loss rejecting the NaN output of a diverged discriminator
        values = plain_step_fn(net, opt)(batch, step)
        if step == 3:
            with torch.no_grad():
                net[3].bias.fill_(float("nan"))
            raise ValueError("fake_logits contains NaN (did the discriminator diverge?)")
        return values

    with pytest.raises(TrainingDiverged, match=r"step 4 of 5: step_fn raised ValueError: fake_logits contains NaN.*"
                                               r"non-finite in net\.3\.bias \(1 of 1 values\)"):
        train_loop(step_fn, {"net": net}, {"net": opt}, _batch, 5, progress=False)


def test_step_fn_errors_carry_the_step():
    net, opt = _net()

    def step_fn(batch, step):
        if step == 2:
            raise ValueError("fake_logits contains NaN (did the discriminator diverge?)")
        return plain_step_fn(net, opt)(batch, step)

    with pytest.raises(ValueError, match="fake_logits") as info:
        train_loop(step_fn, {"net": net}, {"net": opt}, _batch, 5, progress=False, desc="vfhgan seed 0")
    assert "(raised by step_fn in vfhgan seed 0: step 3 of 5)" in getattr(info.value, "__notes__", [])


# ---------------------------------------------------------------------------------------------------------------
# Cache shards


def _world():
    return SynthWorld(SynthConfig(image_size=16, num_frames=3, vocab_size=4, n_train_identities=3,
                                  n_test_identities=2))


def test_shard_corrupted_after_verification_is_detected_on_reread(tmp_path):
    w = _world()
    ds = w.dataset("train", n_clips=40, root=tmp_path)  # shards 0 and 1
    ref = w.clip(3)
    assert torch.equal(ds[3].video, ref.video)  # shard 0 read and verified
    ds[35]  # shard 1: shard 0 leaves memory
    shard = ds._shard_path(0)
    blob = bytearray(shard.read_bytes())
    mid = len(blob) // 2  # inside the tensor payload: torch.load still succeeds, with wrong pixels
    blob[mid:mid + 64] = bytes(255 - b for b in blob[mid:mid + 64])
    shard.write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match=f"{shard.name}: checksum does not match"):
        again = ds[3]
    assert torch.equal(again.video, ref.video) and torch.equal(again.audio, ref.audio)


def test_unreadable_shard_error_names_the_file(tmp_path):
    ds = _world().dataset("train", n_clips=3, root=tmp_path)
    shard = ds._shard_path(0)
    shard.write_bytes(b"not a shard")
    manifest = json.loads(ds.manifest_path.read_text())
    manifest["shards"][f"train/{shard.name}"]["sha256"] = hashlib.sha256(b"not a shard").hexdigest()
    ds.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=f"{shard}: unreadable cache shard"):
        _world().dataset("train", n_clips=3, root=tmp_path)[0]


# ---------------------------------------------------------------------------------------------------------------
# Concurrent cold-cache builders


BUILD_NET = """
    import json, sys, time
    import torch
    from avfh_core.train.checkpoint import load_or_train

    def train(model):
        with open(sys.argv[1], "a") as f:
            f.write("built\\n")
        time.sleep(1.0)  # long enough for the other builder to arrive while this one trains
        torch.manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn_like(p))
        return {"acc": 1.0}

    torch.manual_seed(int(sys.argv[2]))  # different starting weights in each process
    model, info = load_or_train("toy", {"w": 1}, torch.nn.Linear(3, 2), train)
    print(json.dumps({"cached": info["cached"], "w": model.weight.tolist()}))
"""


@pytest.mark.slow  # two extra processes
def test_concurrent_builders_of_a_cached_network_build_it_once(tmp_path):
    log = tmp_path / "builds.txt"
    env = {"AVFH_HOME": str(tmp_path / "home")}
    procs = [_python(BUILD_NET, str(log), str(seed), env=env) for seed in (1, 2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert log.read_text().splitlines() == ["built"]  # one build
    assert sorted(o["cached"] for o in outs) == [False, True]  # the other loaded it
    assert outs[0]["w"] == outs[1]["w"]


BUILD_SHARDS = """
    import json, sys
    import torch
    from avfh_core.data import cache
    from avfh_core.data.synth import SynthConfig, SynthWorld

    real = cache._write_shard

    def counted(world, split, k, path):
        with open(sys.argv[2], "a") as f:
            f.write(f"{split}/{k}\\n")
        real(world, split, k, path)

    cache._write_shard = counted
    w = SynthWorld(SynthConfig(image_size=16, num_frames=3, vocab_size=4, n_train_identities=3, n_test_identities=2))
    ds = w.dataset("train", n_clips=64, root=sys.argv[1])
    print(json.dumps([float(ds[i].video.sum()) for i in (0, 33, 63)]))
"""


@pytest.mark.slow
def test_concurrent_cold_cache_builds_build_each_shard_once_with_identical_results(tmp_path):
    log = tmp_path / "builds.txt"
    procs = [_python(BUILD_SHARDS, str(tmp_path / "synth"), str(log)) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(log.read_text().splitlines()) == ["train/0", "train/1"]  # each shard built once
    assert outs[0] == outs[1]
    manifest = json.loads(next((tmp_path / "synth").glob("*/manifest.json")).read_text())
    assert sorted(manifest["shards"]) == ["train/shard_00000.pt", "train/shard_00001.pt"]


def test_file_lock_serialises_and_times_out(tmp_path):
    target = tmp_path / "net.pt"
    holder = _python("""
        import sys, time
        from avfh_core.fsutil import file_lock
        with file_lock(sys.argv[1]):
            print("locked", flush=True)
            time.sleep(60)
    """, str(target))
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=r"net\.pt\.lock: still locked"), fsutil.file_lock(target, timeout=0.3):
            pass
        assert time.monotonic() - t0 >= 0.3
    finally:
        holder.kill()
        holder.wait()
    with fsutil.file_lock(target, timeout=5) as lock:  # a killed holder's lock is released by the kernel
        assert lock == tmp_path / "net.pt.lock"


# ---------------------------------------------------------------------------------------------------------------
# Read-only folders


@contextlib.contextmanager
def _immutable(folder: Path):
    """Make `folder` read-only even for root (chattr +i): nothing can be created, removed or renamed in it."""
    r = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot make a read-only folder here (chattr +i: {r.stderr.strip() or r.returncode})")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_checkpoint_in_a_read_only_folder_fails_naming_it_and_changes_nothing(tmp_path):
    folder = tmp_path / "runs"
    path = ck.save_checkpoint({"w": torch.ones(3), "step": 1}, folder / "a.pt")
    before = _snapshot(folder)
    with _immutable(folder), pytest.raises(OSError, match=r"a\.pt: cannot write checkpoint"):
        ck.save_checkpoint({"w": torch.zeros(3), "step": 2}, path)
    assert _snapshot(folder) == before


@pytest.mark.slow
def test_reproduce_into_a_read_only_run_folder_is_a_one_line_error(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "keep.txt").write_text("unchanged")
    before = _snapshot(runs)
    with _immutable(runs):
        r = subprocess.run([sys.executable, "-m", "avfh_core.cli", "reproduce", "--preset", "smoke", "--notebook",
                            "common/00_tour", "--runs-dir", str(runs), "--run-id", "ro", "--quiet", "--no-report"],
                           capture_output=True, text=True, timeout=300, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "AVFH_HOME": str(tmp_path / "home")})
        after = _snapshot(runs)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and str(runs) in r.stderr + r.stdout
    assert after == before
