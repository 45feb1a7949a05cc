"""The synthetic world renders exactly what it rendered before the speed work of issue 11 (no GENERATOR_VERSION bump).

The expected digests below were recorded from main's code (commit 6f8d9a4, world v5, before the renderer was made
faster) with `python tests/test_world_render_identity.py --record`, on each kind of machine the tests have run on
(torch and numpy are pinned, but their float kernels differ between CPU generations in the last bits). Every frame, frontal
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


EXPECTED_AVX512_FP16 = {
    'w64 clip 0 train': {'video': '6a2f58c7751b01c0', 'frontal': 'aef16034ae0ad480', 'audio': 'db7ad042c86b3155', 'landmarks': 'e99595f0586c078d', 'labels': '057f44e6896e2c71'},
    'w64 clip 3 test': {'video': 'bab4f5b830662620', 'frontal': '86914ad6187e4f7d', 'audio': '5bf6c41807741609', 'landmarks': '6832b5c0af7930c5', 'labels': '52d64bb2b05c665d'},
    'w64 clip 5 closed': {'video': '68f2c4ad18f499de', 'frontal': 'ddbe2e870fedf320', 'audio': '1b6434b9d5de1d98', 'landmarks': 'd2538872fa443691', 'labels': '2b794a7ddadc732b'},
    'w64 head_motion 2': {'motion': '66347cd9ef536df0'},
    'w128 clip 1 train': {'video': '6b7e8747f5de1322', 'frontal': '163b99147c91f067', 'audio': 'cf48d54b281516c0', 'landmarks': '5d05567889e74ab6', 'labels': '38b4e90bb36fc427'},
    'w128 clip 2 test': {'video': '02bb08a3dd9f4e47', 'frontal': 'e4a5e95f1b82a885', 'audio': '88fd20f93902ca75', 'landmarks': '6e9f0757f6ddaefb', 'labels': 'b07193374344a04e'},
    'w128 render_at 4': {'video': 'ca6dd5058ca11b78', 'frontal': 'b815a115bbb7573d', 'audio': '6f080886b3016e63', 'landmarks': '9fab0817af128e89', 'labels': '4e85ad8b36d87738'},
    'w128 render_at 6 frontal': {'video': '3664d5ffee672e23', 'frontal': 'd0f18a47182f3ae9', 'audio': '5995386e988eb93b', 'landmarks': 'f6e0dcf42df89e25', 'labels': '45f9cbffddb70ab2'},
    'w128 multiview 2 closed': {'images': 'a399ed543047d48f', 'frontal': '1175f623c19ef275', 'landmarks': 'c8a77603d05eb5b1', 'labels': '72ad637a69b905e7'},
    'w128 gallery test 1': {'images': 'd0fc56752a0fbf69', 'frontal': 'fe9b83e91a6bac9b', 'landmarks': '352ef61156788dcd', 'labels': 'e7bdcbec58cf090e'},
    'w128 gallery train 3': {'images': 'd4d1010f0f9d88bb', 'frontal': '8e979c11b3c73874', 'landmarks': 'd2ae44350850d2aa', 'labels': '9a5a8803158808c9'},
    'still clip 0': {'video': '38fbb5c954136e40', 'frontal': '286edb0f71666daa', 'audio': '5e2351c706b95c48', 'landmarks': '08e8924b1f3e728b', 'labels': 'de95c399268d04c5'},
    'still clip 7 test': {'video': '6a27b58e5e0afaa7', 'frontal': '470d408c97ea5d55', 'audio': 'c3d4d4f5b1bf8a02', 'landmarks': '83863dfbfa850bb1', 'labels': '301c11d6e3925322'},
    'grid clip 2': {'video': '400dd6ca3963d00c', 'frontal': 'fed1c92ff1706843', 'audio': '64616e3ccbf8202f', 'landmarks': '3ab8b3dfd0cbefce', 'labels': '8def3ba5e9f77384'},
    'grid multiview 1': {'images': '13a8f05eaedca2d0', 'frontal': 'cd7a6384198855c5', 'landmarks': '637fc5c3ba0b6f18', 'labels': '2a18862d914bbe36'},
    'small clip 0': {'video': 'cb612b66564885f6', 'frontal': '78651ee45acf874a', 'audio': '0ad417e17daa12f0', 'landmarks': '6e60068e7c4b9192', 'labels': '556b6b653a34c2c4'},
    'small clip 1': {'video': 'd455289bd677d763', 'frontal': '7617a3dab51a9f75', 'audio': '27d45cd1f993b8f5', 'landmarks': '0e1b5fc235c6c814', 'labels': 'a3a67186340ebe00'},
    'small clip 2': {'video': '7a7664b0e5f76d13', 'frontal': '4a33b0e83a30d1d2', 'audio': 'a342bd56a0523ce5', 'landmarks': 'afd4ee66ba216a7b', 'labels': '6cc938fab52d3ee8'},
    'small clip 3': {'video': 'a9bf7d0fe8801153', 'frontal': '7ba8bb4f3e7c4f20', 'audio': 'd8cc4bc1eeae3a67', 'landmarks': '6deab97355eee642', 'labels': '10397f3f94e0621a'},
    'small clip 4': {'video': 'f5a2bb04f3a5a3a6', 'frontal': '6abd0c5fd77ac85d', 'audio': '808824847e31e339', 'landmarks': '8f2b2e1d0ee8d9d3', 'labels': '58bc1037989af895'},
    'small clip 5': {'video': '800240af5c48508d', 'frontal': '4ae3304e77c62a46', 'audio': '4d19ef59484ff7b0', 'landmarks': '1923054139000534', 'labels': '851b4b818dd875dd'},
    'small clip 6': {'video': 'ee1325dc7394f240', 'frontal': '727d258a341ffd8d', 'audio': 'f71cac59f7c356a1', 'landmarks': '7a1fe44e45696d7d', 'labels': '67f6678d799e3bf8'},
    'small clip 7': {'video': 'b59827d29547ad01', 'frontal': '67eac6a5a520850c', 'audio': 'ad2b32c6cb02d9dc', 'landmarks': 'c1862a788c912a3b', 'labels': '18196f85f45e2a2b'},
    'small clip 8': {'video': 'a527745a69f5d0a5', 'frontal': 'ae4bae35ec37c71e', 'audio': '2224a341b3e874d2', 'landmarks': '99e2ad7aa89124fe', 'labels': '638a615f7b89d994'},
    'small clip 9': {'video': '9af12c8052b3ec93', 'frontal': 'b547c3e16af28a0f', 'audio': '3e8cee2362bc14a3', 'landmarks': 'd90b35fa2341d445', 'labels': '5d9ea72755463cf9'},
    'small clip 10': {'video': 'b2e81bb78ee9f8bc', 'frontal': '7d5a4501758a05e1', 'audio': '51cbb6366e8636e0', 'landmarks': '4575e893ebf32c03', 'labels': '639ddb4504069cc5'},
    'small clip 11': {'video': '99c7f19894c8aae5', 'frontal': '72ba9818b6c14667', 'audio': 'e3d8e22cf8ac9628', 'landmarks': '5a4c0104abf55c54', 'labels': '161631b40c3c8c75'},
}


RECORDED = {  # the pre-speed-work code's digests, per machine it was recorded on (float kernels differ by CPU)
    "the machine of issue 11 (2026-12-04)": EXPECTED,
    "a Xeon with AVX-512 FP16 (torch CPU capability AVX512, 2026-12-05)": EXPECTED_AVX512_FP16,
}


def test_world_renders_bit_identically_to_main():
    """Bit for bit what the pre-speed-work code rendered on one of the recorded machines. torch's vectorised float
    kernels differ between CPU generations in the last bits (the same commit renders other landmark and audio bits
    on another CPU), so each recorded machine has its own digests; on a new kind of machine, record them with the
    pre-speed-work commit 6f8d9a4 and add them here."""
    got = {name: _fields(thunk()) for name, thunk in _cases()}
    bad_by_machine = {}
    for machine, expected in RECORDED.items():
        assert set(got) == set(expected), "the cases changed: re-record the digests from main's code"
        bad_by_machine[machine] = [f"{name}: {k}" for name in expected for k in expected[name]
                                   if got[name].get(k) != expected[name][k]]
    assert any(not bad for bad in bad_by_machine.values()), (
        f"rendered output matches none of the recorded machines (torch CPU capability here: "
        f"{torch.backends.cpu.get_cpu_capability()}); differences: {bad_by_machine}")


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
