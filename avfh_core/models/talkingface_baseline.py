"""The two-stage baseline of Eskimez et al.'s Fig. 5, BL [8] (Chen et al., CVPR 2019, ATVGnet: audio -> landmarks ->
face), reduced, and labelled so: "two-stage baseline (ATVGnet-like, reduced)".

- Stage (a), audio -> landmarks: the same raw-waveform speech encoder as the proposed generator (ATVGnet uses MFCCs
  and a PCA of the landmarks; ours keeps the speech path identical so that the landmark bottleneck is the only
  difference), then a linear layer to the 20 mouth landmarks (iBUG 48-67) as displacements from the condition
  frame's mouth, in units of the face width (jaw point 0 to 16).
- Stage (b), landmarks -> face: the proposed generator's image encoder, noise encoder and frame decoder, with the
  per-frame code computed from the mouth displacements (an MLP) in place of the speech code. ATVGnet draws landmark
  heatmaps and has a dynamic pixel-wise attention and a regression discriminator: none of these here.
- Training (train/talkingface.py): stage (b) on the TRUE displacements (teacher forcing), stage (a) on an L1 to them,
  both in the same steps, on clean speech only, no adversarial phase. At test time (b) renders (a)'s prediction.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from avfh_core.data.landmarks import JAW, MOUTH, check_landmarks
from avfh_core.models.talkingface import SpeechEncoder, TalkingFaceConfig, TalkingFaceGenerator

N_MOUTH = MOUTH.stop - MOUTH.start


def mouth_displacement(landmarks: torch.Tensor) -> torch.Tensor:
    """[B, T, 68, 2] pixels -> [B, T, 20, 2]: mouth landmarks minus those of frame 0, over frame 0's face width."""
    check_landmarks(landmarks, "landmarks")
    if landmarks.ndim != 4:
        raise ValueError(f"landmarks must be [B, T, 68, 2], got shape {tuple(landmarks.shape)}")
    width = (landmarks[:, 0, JAW.stop - 1] - landmarks[:, 0, JAW.start]).norm(dim=-1).clamp(min=1e-6)
    return (landmarks[:, :, MOUTH] - landmarks[:, :1, MOUTH]) / width[:, None, None, None]


class TwoStageBaseline(nn.Module):
    """(condition [B, 3, H, W], 8 kHz audio [B, 320 T], noise [B, T, noise_dim] or None) -> video [B, T, 3, H, W]
    through the mouth landmarks: `landmarks(audio)` is stage (a), `render(condition, displacement, noise)` stage (b)."""

    def __init__(self, cfg: TalkingFaceConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TalkingFaceConfig()
        self.speech = SpeechEncoder(cfg)
        self.to_landmarks = nn.Linear(cfg.speech_hidden, 2 * N_MOUTH)
        nn.init.zeros_(self.to_landmarks.weight)
        nn.init.zeros_(self.to_landmarks.bias)  # starts at "the mouth does not move"
        self.code = nn.Sequential(nn.Linear(2 * N_MOUTH, cfg.speech_hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(cfg.speech_hidden, cfg.speech_hidden))
        self.face = TalkingFaceGenerator(cfg)
        self.face.speech = nn.Identity()  # stage (b) gets its code from the landmarks, not from speech

    def landmarks(self, audio: torch.Tensor) -> torch.Tensor:
        s = self.speech(audio)
        return self.to_landmarks(s).reshape(*s.shape[:2], N_MOUTH, 2)

    def render(self, condition: torch.Tensor, displacement: torch.Tensor, noise: torch.Tensor | None = None
               ) -> torch.Tensor:
        B, T = displacement.shape[:2]
        if tuple(displacement.shape[2:]) != (N_MOUTH, 2) or condition.shape[0] != B:
            raise ValueError(f"displacement must be [{condition.shape[0]}, T, {N_MOUTH}, 2], got "
                             f"{tuple(displacement.shape)}")
        if noise is None:
            noise = torch.randn(B, T, self.cfg.noise_dim, device=condition.device)
        return self.face.decode(condition, self.code(displacement.flatten(2)), noise)

    def forward(self, condition: torch.Tensor, audio: torch.Tensor, noise: torch.Tensor | None = None
                ) -> torch.Tensor:
        return self.render(condition, self.landmarks(audio), noise)


__all__ = ["N_MOUTH", "TwoStageBaseline", "mouth_displacement"]
