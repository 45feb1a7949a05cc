"""reproduce/secnet_controls.py: the planted rise of Fig. 11's claim."""
import pytest
import torch

from avfh_core.metrics.video import psnr_per_frame
from avfh_core.reproduce import secnet_controls as sc
from avfh_core.reproduce.audit import load_controls
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import secnet


def clip(T=12):
    g = torch.Generator().manual_seed(0)
    hr = 0.25 + 0.5 * torch.rand(2, T, 3, 16, 16, generator=g)
    sr = hr + 0.02 * torch.randn(2, T, 3, 16, 16, generator=g)
    return sr, hr


def test_delayed_amplifies_the_first_frame_and_fades_to_the_model():
    sr, hr = clip()
    out = sc.delayed(sr, hr, frames=4, extra_db=3.0)
    drop = psnr_per_frame(sr, hr) - psnr_per_frame(out, hr)
    assert drop[:, 0] == pytest.approx(torch.full((2,), 3.0), abs=0.01)  # 3 dB at frame 0 (no clipping here)
    assert (drop[:, 1:4].diff(dim=1) < 0).all()  # fading
    assert torch.equal(out[:, 4:], sr[:, 4:].clamp(0, 1))  # the model's own from frame `frames` on


def test_a_planted_rise_is_timed_by_rise_frames():
    sr, hr = clip(T=30)
    flat = secnet.rise_frames(psnr_per_frame(sr, hr).mean(0))
    planted = secnet.rise_frames(psnr_per_frame(sc.delayed(sr, hr, frames=10, extra_db=3.0), hr).mean(0))
    assert flat <= 2 and 8 <= planted <= 11


def test_named_errors():
    sr, hr = clip()
    with pytest.raises(ValueError, match="frames"):
        sc.delayed(sr, hr, frames=0, extra_db=3.0)
    with pytest.raises(ValueError, match="extra_db"):
        sc.delayed(sr, hr, frames=2, extra_db=0.0)
    with pytest.raises(ValueError, match="both be"):
        sc.delayed(sr[:, 0], hr[:, 0], frames=2, extra_db=1.0)


def test_the_yaml_control_guards_the_rise_claim_with_these_rows():
    ctl = {c["id"]: c for c in load_controls(load_tables("secnet"))}["planted_rise_is_seen"]
    assert ctl["claims"] == ["secnet_rises_longer"] and {ctl["a"], ctl["b"]} == set(sc.ROWS)
    assert ctl["metric"] == "rise_frames" and ctl["better"] == "higher"
