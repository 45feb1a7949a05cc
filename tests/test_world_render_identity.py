"""The synthetic world renders exactly what it rendered before the speed work of issue 11 (no GENERATOR_VERSION bump).

The expected digests below were recorded from main's code (commit 6f8d9a4, world v5, before the renderer was made
faster) with `python tests/test_world_render_identity.py --record`; torch and numpy are pinned. Every frame, frontal
frame, audio sample, landmark and label of a few clips of several people, splits and poses (clips, `render_at`,
`multiview`, `gallery`, the static-camera path, several sizes and pose presets) must hash the same: any change of a
single pixel bit fails the test and names the case and the field.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest
import torch

from avfh_core.data import SynthConfig, SynthWorld


def _feed(h, obj) -> None:
    """Hash `obj` (tensors, arrays, numbers, strings, containers, dataclass dicts) into h, bit-exactly."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        h.update(f"A{obj.dtype}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=str):
            _feed(h, k)
            _feed(h, obj[k])
        h.update(b"}")
    elif isinstance(obj, list | tuple):
        h.update(b"[")
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    elif isinstance(obj, float):
        h.update(f"f{obj.hex()}".encode())
    else:
        h.update(f"{type(obj).__name__}:{obj!r}".encode())


def _digest(obj) -> str:
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()[:16]


def _fields(out) -> dict:
    """Digest per field group of an AVSample, a Views or a head_motion dict."""
    if isinstance(out, dict):
        return {"motion": _digest(out)}
    if hasattr(out, "video"):
        ex = dict(out.extras)
        flm = ex.pop("frontal_landmarks")
        return {"video": _digest(out.video), "frontal": _digest(out.frontal), "audio": _digest(out.audio),
                "landmarks": _digest([out.landmarks, flm]),
                "labels": _digest([out.pose, out.text, out.speaker, out.attributes, out.source, out.fps,
                                   out.sample_rate, ex])}
    return {"images": _digest(out.images), "frontal": _digest(out.frontal),
            "landmarks": _digest([out.landmarks, out.frontal_landmarks]),
            "labels": _digest([out.poses, out.speaker, out.attributes, out.source])}


def _cases():
    """(name, thunk) pairs: what is rendered and compared."""
    w64 = SynthWorld(SynthConfig(image_size=64))
    w128 = SynthWorld(SynthConfig(image_size=128, num_frames=12))
    still = SynthWorld(SynthConfig(image_size=64, num_frames=10, pose_preset="wide", face_scale=1.0,
                                   rotation_motion=0.0, translation_motion=0.0, blink_rate=3.0))
    grid = SynthWorld(SynthConfig(image_size=48, num_frames=8, pose_preset="vividgan_multipie", utterance="sentence",
                                  seed=3, room_noise_dbfs=None))
    small = SynthWorld(SynthConfig(image_size=32, num_frames=4, face_gender_coupling=0.0, face_age_coupling=0.5))
    yield "w64 clip 0 train", lambda: w64.clip(0, "train")
    yield "w64 clip 3 test", lambda: w64.clip(3, "test")
    yield "w64 clip 5 closed", lambda: w64.clip(5, "closed")
    yield "w64 head_motion 2", lambda: w64.head_motion(2, "train")
    yield "w128 clip 1 train", lambda: w128.clip(1, "train")
    yield "w128 clip 2 test", lambda: w128.clip(2, "test")
    yield "w128 render_at 4", lambda: w128.render_at(4, "train", (30.0, -10.0, 5.0))
    yield "w128 render_at 6 frontal", lambda: w128.render_at(6, "test", (0.0, 0.0, 0.0))
    yield "w128 multiview 2 closed", lambda: w128.multiview(2, "closed", yaws=(-60.0, 0.0, 45.0, 90.0))
    yield "w128 gallery test 1", lambda: w128.gallery("test", 1)
    yield "w128 gallery train 3", lambda: w128.gallery("train", 3)
    yield "still clip 0", lambda: still.clip(0, "train")
    yield "still clip 7 test", lambda: still.clip(7, "test")
    yield "grid clip 2", lambda: grid.clip(2, "train")
    yield "grid multiview 1", lambda: grid.multiview(1, "test", yaws=(-90.0, -15.0), frame=3, pitch=10.0, roll=-5.0)
    for i in range(12):  # many people: every hair style, facial hair, glasses, ages
        yield f"small clip {i}", (lambda i=i: small.clip(i, "train" if i % 3 else "test"))


EXPECTED = {
    'w64 clip 0 train': {'video': '6a2f58c7751b01c0', 'frontal': 'aef16034ae0ad480', 'audio': 'db7ad042c86b3155', 'landmarks': 'aca72c7bae0d31e8', 'labels': '057f44e6896e2c71'},
    'w64 clip 3 test': {'video': '7d1ea8c9943934ff', 'frontal': '86914ad6187e4f7d', 'audio': '6a2ab98892fae0be', 'landmarks': '6fe08da784cf217f', 'labels': '52d64bb2b05c665d'},
    'w64 clip 5 closed': {'video': '68f2c4ad18f499de', 'frontal': 'ddbe2e870fedf320', 'audio': '5eebbdb37c9327a8', 'landmarks': '7c20914ffc46226b', 'labels': '2b794a7ddadc732b'},
    'w64 head_motion 2': {'motion': '76be260653921541'},
    'w128 clip 1 train': {'video': '6b7e8747f5de1322', 'frontal': '047619145a7f82f1', 'audio': '9218be0292a94cd0', 'landmarks': '07007ce1e6ea7aaf', 'labels': '38b4e90bb36fc427'},
    'w128 clip 2 test': {'video': '02bb08a3dd9f4e47', 'frontal': 'e4a5e95f1b82a885', 'audio': '88fd20f93902ca75', 'landmarks': '874740e50683f085', 'labels': 'b07193374344a04e'},
    'w128 render_at 4': {'video': 'e894f8f693382324', 'frontal': 'b815a115bbb7573d', 'audio': '6e6b61023ff42c28', 'landmarks': 'a8f489d662093733', 'labels': '4e85ad8b36d87738'},
    'w128 render_at 6 frontal': {'video': '18bf7df9c98bba3c', 'frontal': 'd0f18a47182f3ae9', 'audio': 'cdd3e4e96e9214f9', 'landmarks': 'f6e0dcf42df89e25', 'labels': '45f9cbffddb70ab2'},
    'w128 multiview 2 closed': {'images': 'a399ed543047d48f', 'frontal': '1175f623c19ef275', 'landmarks': '2a12989ed49065cf', 'labels': '72ad637a69b905e7'},
    'w128 gallery test 1': {'images': 'd0fc56752a0fbf69', 'frontal': 'fe9b83e91a6bac9b', 'landmarks': '352ef61156788dcd', 'labels': 'e7bdcbec58cf090e'},
    'w128 gallery train 3': {'images': 'd4d1010f0f9d88bb', 'frontal': '8e979c11b3c73874', 'landmarks': 'd2ae44350850d2aa', 'labels': '9a5a8803158808c9'},
    'still clip 0': {'video': '38fbb5c954136e40', 'frontal': '286edb0f71666daa', 'audio': '5e2351c706b95c48', 'landmarks': 'aff442891f642322', 'labels': 'de95c399268d04c5'},
    'still clip 7 test': {'video': '6a27b58e5e0afaa7', 'frontal': '470d408c97ea5d55', 'audio': 'c3d4d4f5b1bf8a02', 'landmarks': 'bf8aaa93b5ec99b5', 'labels': '301c11d6e3925322'},
    'grid clip 2': {'video': '400dd6ca3963d00c', 'frontal': 'fed1c92ff1706843', 'audio': '6b282f23ef06d07e', 'landmarks': '97c0a60607340bc6', 'labels': '8def3ba5e9f77384'},
    'grid multiview 1': {'images': '13a8f05eaedca2d0', 'frontal': 'cd7a6384198855c5', 'landmarks': '5b7686dde098d765', 'labels': '2a18862d914bbe36'},
    'small clip 0': {'video': 'cb612b66564885f6', 'frontal': '78651ee45acf874a', 'audio': 'eeec09f5cd8a1799', 'landmarks': '5a7fc5c3523f17d5', 'labels': '556b6b653a34c2c4'},
    'small clip 1': {'video': 'd455289bd677d763', 'frontal': '1f42e67b3e3edd56', 'audio': '5de7ac232634ffa5', 'landmarks': 'ca91f319e9ef2384', 'labels': 'a3a67186340ebe00'},
    'small clip 2': {'video': '7a7664b0e5f76d13', 'frontal': '4a33b0e83a30d1d2', 'audio': '8a26897c94aa7a22', 'landmarks': '25906b423f7616e0', 'labels': '6cc938fab52d3ee8'},
    'small clip 3': {'video': 'a9bf7d0fe8801153', 'frontal': '7ba8bb4f3e7c4f20', 'audio': 'b26e45f2de493fdf', 'landmarks': 'ee59e410740e481d', 'labels': '10397f3f94e0621a'},
    'small clip 4': {'video': 'f5a2bb04f3a5a3a6', 'frontal': '6abd0c5fd77ac85d', 'audio': 'cc4e62e6e3b6b10a', 'landmarks': 'd1bea13328a9ee94', 'labels': '58bc1037989af895'},
    'small clip 5': {'video': '800240af5c48508d', 'frontal': '4ae3304e77c62a46', 'audio': '13bc45228ee2a433', 'landmarks': 'b0a6359c7974b878', 'labels': '851b4b818dd875dd'},
    'small clip 6': {'video': 'ee1325dc7394f240', 'frontal': '727d258a341ffd8d', 'audio': 'a1e60bfa80b5802f', 'landmarks': '300621ab2e045fdc', 'labels': '67f6678d799e3bf8'},
    'small clip 7': {'video': 'b59827d29547ad01', 'frontal': '67eac6a5a520850c', 'audio': '7dbbed8ee483bc0e', 'landmarks': 'badf4612b1147729', 'labels': '18196f85f45e2a2b'},
    'small clip 8': {'video': 'a527745a69f5d0a5', 'frontal': 'ae4bae35ec37c71e', 'audio': '2224a341b3e874d2', 'landmarks': 'd6f5f2164f9e0502', 'labels': '638a615f7b89d994'},
    'small clip 9': {'video': '9af12c8052b3ec93', 'frontal': 'b547c3e16af28a0f', 'audio': '5971566e45a99bd5', 'landmarks': 'c9de5d4fd82c8b4e', 'labels': '5d9ea72755463cf9'},
    'small clip 10': {'video': 'b2e81bb78ee9f8bc', 'frontal': '7d5a4501758a05e1', 'audio': 'd73242d155005e45', 'landmarks': 'ec6b27bafdc11ae8', 'labels': '639ddb4504069cc5'},
    'small clip 11': {'video': '99c7f19894c8aae5', 'frontal': '72ba9818b6c14667', 'audio': '2e18ea8a07aa4e86', 'landmarks': 'dc32377d810f75b2', 'labels': '161631b40c3c8c75'},
}


def test_world_renders_bit_identically_to_main():
    got = {name: _fields(thunk()) for name, thunk in _cases()}
    assert set(got) == set(EXPECTED), "the cases changed: re-record the digests from main's code"
    bad = [f"{name}: {k}" for name in EXPECTED for k in EXPECTED[name] if got[name].get(k) != EXPECTED[name][k]]
    assert not bad, f"rendered output differs from main's (world v5) in: {bad}"


if __name__ == "__main__" and "--record" in sys.argv:
    torch.set_num_threads(1)
    print("EXPECTED = {")
    for name, thunk in _cases():
        print(f"    {name!r}: {_fields(thunk())!r},")
    print("}")


def test_per_frame_boxes_render_the_clip_box_pixels(monkeypatch):
    """A moving head ray-cast frame by frame in its own box (face._frame_boxes) gives the pixels of the clip's whole
    box, for wide poses and strong motion too (where the boxes differ most)."""
    from avfh_core.data import face as facemod

    w = SynthWorld(SynthConfig(image_size=48, num_frames=6, pose_preset="wide", rotation_motion=6.0,
                               translation_motion=10.0, blink_rate=5.0))
    used = []
    real = facemod._frame_boxes
    monkeypatch.setattr(facemod, "_frame_boxes", lambda *a: used.append(real(*a)) or used[-1])
    fast = [w.clip(i, "train") for i in range(4)]
    assert any(u is not None for u in used), "the per-frame path was not exercised"
    monkeypatch.setattr(facemod, "_frame_boxes", lambda *a: None)
    for i, s in enumerate(fast):
        ref = w.clip(i, "train")
        assert torch.equal(s.video, ref.video) and torch.equal(s.frontal, ref.frontal), f"clip {i}"


def test_render_reuses_a_given_chart_and_checks_its_shape():
    from avfh_core.data import face as facemod

    w = SynthWorld(SynthConfig(image_size=32, num_frames=3))
    sc = w._scene(0, "train")
    idn = sc["plan"]["idn"]
    alb, nrm = w._texture(idn)
    args = (idn, alb, nrm, sc["pose"], sc["centre"], sc["scale"], sc["mouth"], sc["blink"], sc["bg"], sc["light"],
            sc["cloth"])
    chart = facemod.landmarks_chart(idn, sc["mouth"]["jaw"], sc["mouth"]["spread"], sc["mouth"]["closed"], sc["blink"])
    img, lm = facemod.render(*args)
    img2, lm2 = facemod.render(*args, chart=chart)
    assert torch.equal(img, img2) and torch.equal(lm, lm2)
    with pytest.raises(ValueError, match=r"chart has shape \(2, 68, 2\), expected \[3, 68, 2\]"):
        facemod.render(*args, chart=chart[:2])


def test_bench_cpu_time_option():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_data.py"
    spec = importlib.util.spec_from_file_location("bench_data", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.cpu_time(dict(image_size=32, num_frames=4, n_train_identities=2), n_frames=8, repeat=2)
    assert r["clips"] == 2 and r["frames"] == 8 and len(r["runs_cpu_s"]) == 2
    assert r["cpu_s"] == min(r["runs_cpu_s"]) > 0 and r["cpu_fps"] > 0
    with pytest.raises(ValueError, match="repeat=0"):
        bench.cpu_time(dict(image_size=32, num_frames=4), n_frames=8, repeat=0)


def test_texture_pair_is_reused_until_changed():
    from avfh_core.data import face as facemod

    alb, nrm = torch.rand(3, 8, 16), torch.rand(3, 8, 16)
    t1 = facemod._texture6(alb, nrm)
    assert facemod._texture6(alb, nrm) is t1 and torch.equal(t1[0], torch.cat([alb, nrm]))
    alb.mul_(0.5)  # changed in place: the kept pair is stale
    t2 = facemod._texture6(alb, nrm)
    assert t2 is not t1 and torch.equal(t2[0], torch.cat([alb, nrm]))
    assert facemod._texture6(alb.clone(), nrm) is not t2  # another tensor with the same values: made afresh
