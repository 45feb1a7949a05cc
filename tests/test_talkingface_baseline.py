"""The reduced two-stage baseline BL [8] (audio -> mouth landmarks -> face) and its run."""

import pytest
import torch

from avfh_core.config import setup
from avfh_core.models.talkingface import TalkingFaceConfig
from avfh_core.models.talkingface_baseline import TwoStageBaseline, mouth_displacement
from avfh_core.train import talkingface as TF


def test_mouth_displacement_is_relative_to_frame0_in_face_widths():
    lm = torch.zeros(1, 2, 68, 2)
    lm[:, :, 16, 0] = 20.0  # face width 20 px
    lm[:, 1, 48:, 1] = 4.0  # the mouth drops 4 px in frame 1
    d = mouth_displacement(lm)
    assert d.shape == (1, 2, 20, 2)
    assert d[:, 0].abs().max() == 0 and torch.allclose(d[0, 1, :, 1], torch.full((20,), 0.2))
    with pytest.raises(ValueError, match=r"\[B, T, 68, 2\]"):
        mouth_displacement(lm[0])


def test_baseline_goes_through_its_landmarks():
    torch.manual_seed(0)
    m = TwoStageBaseline(TalkingFaceConfig.sized(16, 4)).eval()
    cond, audio = torch.rand(2, 3, 16, 16), torch.randn(2, 3 * 320)
    z = torch.zeros(2, 3, m.cfg.noise_dim)
    assert m.landmarks(audio).shape == (2, 3, 20, 2) and m.landmarks(audio).abs().max() == 0  # starts still
    out = m(cond, audio, z)
    assert out.shape == (2, 3, 3, 16, 16)
    assert torch.equal(out, m.render(cond, m.landmarks(audio), z))
    assert torch.allclose(out, cond[:, None].expand_as(out))  # the residual head starts at the condition frame
    torch.nn.init.normal_(m.face.head.weight)
    out = m(cond, audio, z)
    moved = m.render(cond, torch.full((2, 3, 20, 2), 0.3), z)
    assert (moved - out).abs().max() > 0  # stage (b) reads the landmarks
    with pytest.raises(ValueError, match="displacement must be"):
        m.render(cond, torch.zeros(2, 3, 19, 2), z)


def test_baseline_run_trains_both_stages_and_scores():
    cfg = setup("smoke", seed=0, device="cpu", hr_size=16, clip_frames=4, batch_size=2, talkingface_width=4,
                talkingface_train_clips=4, talkingface_eval_clips=2, talkingface_steps=2, talkingface_monitor_every=0,
                talkingface_train_frames=3)
    assert "baseline" in TF.fig5(cfg)
    before = {k: v.clone() for k, v in TF.init(TF.BASELINE, cfg, seed=0)["generator"].state_dict().items()}
    trained = TF.train(TF.BASELINE, cfg, seed=0)
    h = trained.log.history
    assert len(h["landmarks"]) == 2 and len(h["l1"]) == 2
    after = trained.models["generator"].state_dict()
    for part in ("speech.", "to_landmarks.", "code.", "face."):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(part)), part
    data, idx = TF.eval_set(TF.BASELINE, cfg)
    from avfh_core.data.batching import collate
    batch = collate([data[i] for i in idx], "cpu")
    s = TF.score(TF.predict(trained.models, batch), batch, cfg)
    assert torch.isfinite(s["lrw/nlmd_all"][batch["dataset"] == 0]).all()
