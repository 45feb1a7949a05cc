"""Ground-truth optical flow of the synthetic world (data/gtflow.py) and the frame indices of sequence items
(data/sequences.py) that it follows."""

import pytest
import torch

from avfh_core.data import synth
from avfh_core.data.degrade import blur_subsample
from avfh_core.data.gtflow import FlowItems, RigidFlow, flow_offsets
from avfh_core.data.sequences import ClipDataset, SequenceDataset
from avfh_core.nn.flow import flow_warp


def _world(**kw):
    return synth.world(None, image_size=64, num_frames=12, n_train_identities=3, n_test_identities=2,
                       render_frontal=False, **kw)


def test_rigid_landmarks_land_where_the_flow_says():
    """The rigid landmarks (brows, nose, eyes) of a neutral face lie on the rendered ellipsoid, so the flow at a
    landmark of frame s must carry it exactly to the same landmark in frame d."""
    w = _world()
    for i in range(3):
        lm = w.head_motion(i)["landmarks"].double()
        rf = RigidFlow(w, i)
        idx = list(range(17, 48))
        for s, d in ((0, 5), (3, 11), (7, 2)):
            flow, valid = rf.flow(torch.tensor([s]), torch.tensor([d]), lm[s, idx])
            moved = (lm[d, idx] - lm[s, idx]).norm(dim=-1).mean()
            assert moved > 1.0  # the head does move between these frames
            assert (lm[s, idx] + flow[0] - lm[d, idx]).norm(dim=-1).max() < 1e-4
            assert bool(valid.all())


def test_ground_truth_flow_warps_rendered_frames_onto_each_other():
    """Backward-warping frame d by F^{s->d} brings it onto frame s far better than no motion compensation, in HR
    and on the LR grid of blur_subsample (what remains is shading, which follows the camera-fixed light, the
    mouth and blinks)."""
    w = _world()
    for i in range(2):
        v = w.clip(i).video
        rf = RigidFlow(w, i)
        src, dst = torch.tensor([5, 5, 5, 5]), torch.tensor([3, 4, 6, 7])
        for scale in (1, 4):
            frames = v if scale == 1 else blur_subsample(v, 1.5, scale)
            flow, valid = rf.field(src, dst, scale)
            assert flow.shape == (4, 2, 64 // scale, 64 // scale) and valid.shape == (4, 64 // scale, 64 // scale)
            m = valid.float()

            def err(x, frames=frames, m=m, src=src):
                return float(((x - frames[src]).abs().mean(1) * m).sum() / m.sum())

            assert err(flow_warp(frames[dst], flow.float())) < 0.8 * err(frames[dst])
            assert err(flow_warp(frames[dst], -flow.float())) > err(frames[dst])  # the sign matters


def test_flip_mirrors_the_field_and_a_still_world_has_no_flow():
    w = _world()
    rf = RigidFlow(w, 1)
    src, dst = torch.tensor([0, 2]), torch.tensor([4, 9])
    plain, pv = rf.field(src, dst)
    flipped, fv = rf.field(src, dst, flipped=True)
    torch.testing.assert_close(flipped, plain.flip(-1) * torch.tensor([-1.0, 1.0], dtype=plain.dtype)[:, None, None])
    assert torch.equal(fv, pv.flip(-1))
    still = _world(rotation_motion=0.0, translation_motion=0.0)
    flow, valid = RigidFlow(still, 0).field(torch.tensor([0, 3]), torch.tensor([11, 1]), 4)
    assert float(flow.abs().max()) < 1e-9 and bool(valid.all())


def test_rigid_flow_rejects_bad_input():
    rf = RigidFlow(_world(), 0)
    with pytest.raises(ValueError, match=r"frames must lie in \[0, 12\)"):
        rf.flow(torch.tensor([12]), torch.tensor([0]), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="same length"):
        rf.flow(torch.tensor([0, 1]), torch.tensor([0]), torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"xy must be \[P, 2\]"):
        rf.flow(torch.tensor([0]), torch.tensor([1]), torch.zeros(3))
    with pytest.raises(ValueError, match="scale must be a positive int dividing 64"):
        rf.field(torch.tensor([0]), torch.tensor([1]), 3)
    with pytest.raises(ValueError, match="max_offset must be an int >= 1"):
        flow_offsets(0)
    assert flow_offsets(2) == (-2, -1, 1, 2)


def test_sequence_items_name_their_frames():
    w = _world()
    samples = w.dataset("train", n_clips=2, cache=False)
    data = SequenceDataset(samples, n_frames=4, max_stride=2, repeats=30)
    for k in range(0, 60, 7):
        it = data[k]
        hr = samples[it["clip"]].video[it["frames"]]
        torch.testing.assert_close(it["hr"], hr.flip(-1) if it["flipped"] else hr, atol=1 / 255, rtol=0)
        d = it["frames"].diff().abs()
        assert bool((d == it["stride"]).all())
    assert torch.equal(ClipDataset(samples)[1]["frames"], torch.arange(12))


def test_flow_items_follow_frames_reversal_and_flip():
    w = _world()
    samples = w.dataset("train", n_clips=2, cache=False)
    data = FlowItems(SequenceDataset(samples, n_frames=4, max_stride=2, repeats=30), w, "train", 2, 4)
    seen = set()
    for k in range(30):
        it = data[k]
        seen.add((it["reversed"], it["flipped"]))
        assert it["flow"].shape == (4, 4, 2, 16, 16) and it["flow"].dtype == torch.float32
        assert it["flow_valid"].shape == (4, 4, 16, 16)
        rf = data.motion(int(it["clip"]))
        f = it["frames"]
        # frame 1's flow towards frame 2 (offset +1 is index 2 of (-2, -1, 1, 2))
        want, _ = rf.field(f[1:2], f[2:3], 4, it["flipped"])
        torch.testing.assert_close(it["flow"][1, 2], want[0].float())
        # replicate padding in time: frame 0's offsets -1 and -2 point at itself (zero flow)
        assert float(it["flow"][0, :2].abs().max()) == 0.0
    assert len(seen) == 4
    clip = FlowItems(ClipDataset(samples), w, "train", 1, 4)[0]
    assert clip["flow"].shape == (12, 2, 2, 16, 16)
    with pytest.raises(ValueError, match="has no 'frames'"):
        FlowItems([{"clip": 0, "lr": torch.zeros(1)}], w, "train", 1, 4)[0]
