"""reproduce/talkingface_controls.py: the planted controls of the two discriminator claims."""
import pytest
import torch

from avfh_core.reproduce import talkingface_controls as tc
from avfh_core.reproduce.audit import load_controls
from avfh_core.reproduce.tables import load_tables


def toy(B=2, C=3, T=8, H=16, W=16):
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(B, C, T, 3, H, W, generator=g)
    video = torch.rand(B, T, 3, H, W, generator=g)
    box = torch.tensor([4.0, 8.0, 12.0, 14.0]).expand(B, T, 4).clone()
    return pred, video, box


def test_paste_mouth_in_sync_copies_the_true_mouth_and_nothing_else():
    pred, video, box = toy()
    out = tc.paste_mouth(pred, video, box, lag=0)
    inside = (slice(None), slice(None), slice(1, None), slice(None), slice(8, 14), slice(4, 12))
    assert torch.equal(out[inside], video[:, None, 1:, :, 8:14, 4:12].expand_as(out[inside]))
    outside = torch.ones_like(out, dtype=torch.bool)
    outside[inside] = False
    assert torch.equal(out[outside], pred[outside])
    assert torch.equal(out[:, :, 0], pred[:, :, 0])  # the condition frame is left alone


def test_paste_mouth_lag_takes_the_mouth_of_a_later_frame():
    pred, video, box = toy()
    out = tc.paste_mouth(pred, video, box, lag=3)
    T = video.shape[1]
    for t in range(1, T):
        assert torch.equal(out[:, 0, t, :, 8:14, 4:12], video[:, (t + 3) % T, :, 8:14, 4:12])


def test_blur_frames_smooths_every_frame_and_keeps_a_flat_image():
    pred, _, _ = toy()
    out = tc.blur_frames(pred, 1.0)
    assert out.shape == pred.shape
    tv = lambda x: (x[..., 1:, :] - x[..., :-1, :]).abs().mean()  # noqa: E731
    assert tv(out) < 0.6 * tv(pred)
    flat = torch.full_like(pred, 0.3)
    assert torch.allclose(tc.blur_frames(flat, 1.0), flat, atol=1e-6)


def test_named_errors():
    pred, video, box = toy()
    with pytest.raises(ValueError, match="paste_mouth: pred must be"):
        tc.paste_mouth(pred[:, 0], video, box)
    with pytest.raises(ValueError, match="box must be"):
        tc.paste_mouth(pred, video, box[:, :3])
    with pytest.raises(ValueError, match="blur_frames"):
        tc.blur_frames(video[0], 1.0)


def test_the_yaml_controls_name_these_rows_and_guard_the_discriminator_claims():
    paper = load_tables("talkingface")
    rows = paper.tables["controls"].rows
    assert set(tc.ROWS) <= set(rows)
    guards = {c["id"]: c for c in load_controls(paper)}
    assert guards["blurred_frame_is_worse"]["claims"] == ["frame_d_improves_quality"]
    assert guards["sync_score_sees_a_lagged_mouth"]["claims"] == ["pair_d_improves_sync"]
    assert {guards["sync_score_sees_a_lagged_mouth"]["a"], guards["sync_score_sees_a_lagged_mouth"]["b"]} == {
        "lagged_mouth", "synced_mouth"}
