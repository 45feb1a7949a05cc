"""Degradations shared by all papers: transforms on video tensors [..., 3, H, W] and waveforms [..., S].

- `bicubic_down`: VFH-GAN (Sharma et al., Sec. IV-A) x4 bicubic (128 -> 32); Meishvili et al. x16 (128 -> 8);
  VividGAN (Zhang et al.) x8 (128 -> 16).
- `blur_subsample`: SECNet (Fang et al., Sec. III-A): Gaussian blur sigma 1.5 then 1-of-4 subsampling.
- `erase_boxes`: a positive control of the claims audit: a box per frame (e.g. the mouth) filled with one constant
  colour per clip, so what it showed can only come from elsewhere (e.g. the audio).
- `misalign`: VividGAN's misaligned inputs: a random similarity transform (rotation, scale, shift) per clip.
- `mix_noise`: Eskimez et al. (Sec. 3): noise mixed at an SNR in -10..30 dB; `make_noise` kinds: white
  (stationary), speech-shaped (stationary, long-term speech spectrum), babble (several other synthetic voices),
  nonstationary (amplitude-modulated coloured bursts).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _check_video(video: torch.Tensor, name: str = "video") -> None:
    if not isinstance(video, torch.Tensor) or video.ndim < 3 or video.shape[-3] != 3:
        raise ValueError(f"{name} must be a tensor [..., 3, H, W], got {getattr(video, 'shape', type(video))}")
    if not video.is_floating_point():
        raise ValueError(f"{name} must be float in [0, 1], got {video.dtype}")


def bicubic_down(video: torch.Tensor, scale: int) -> torch.Tensor:
    """[..., 3, H, W] -> [..., 3, H/scale, W/scale]: antialiased bicubic (as MATLAB imresize / PIL), clamped."""
    _check_video(video)
    H, W = video.shape[-2:]
    if not isinstance(scale, int) or scale < 1 or H % scale or W % scale:
        raise ValueError(f"scale must be a positive int dividing the frame size {H}x{W}, got {scale!r}")
    x = video.reshape(-1, 3, H, W)
    y = F.interpolate(x, size=(H // scale, W // scale), mode="bicubic", align_corners=False, antialias=True)
    return y.clamp(0, 1).reshape(*video.shape[:-2], H // scale, W // scale)


def bicubic_up(video: torch.Tensor, scale: int) -> torch.Tensor:
    """The bicubic-upsampling baseline: [..., 3, h, w] -> [..., 3, h*scale, w*scale], clamped."""
    _check_video(video)
    h, w = video.shape[-2:]
    x = video.reshape(-1, 3, h, w)
    y = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    return y.clamp(0, 1).reshape(*video.shape[:-2], h * scale, w * scale)


def gaussian_kernel(sigma: float, radius: int | None = None) -> torch.Tensor:
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = int(math.ceil(3 * sigma)) if radius is None else radius
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blur_subsample(video: torch.Tensor, sigma: float = 1.5, factor: int = 4) -> torch.Tensor:
    """SECNet degradation: separable Gaussian blur (sigma, reflect padding) then keep 1 pixel in `factor`
    (the top-left of each factor x factor block, offset factor // 2 so samples sit at block centres)."""
    _check_video(video)
    H, W = video.shape[-2:]
    if not isinstance(factor, int) or factor < 1 or H % factor or W % factor:
        raise ValueError(f"factor must be a positive int dividing the frame size {H}x{W}, got {factor!r}")
    k = gaussian_kernel(sigma).to(video)
    r = (k.numel() - 1) // 2
    x = video.reshape(-1, 3, H, W)
    x = F.pad(x, (r, r, r, r), mode="reflect" if r < min(H, W) else "replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    o = factor // 2
    x = x[..., o::factor, o::factor]
    return x.clamp(0, 1).reshape(*video.shape[:-2], H // factor, W // factor)


def misalign(video: torch.Tensor, max_rotation: float = 10.0, max_scale: float = 0.1, max_shift: float = 0.08,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A random similarity transform per clip (same for all frames of [T,3,H,W] / per item of [N,3,H,W]
    when given [N,T,3,H,W]): returns (warped video, affine [.., 2, 3] in normalised coordinates)."""
    _check_video(video)
    lead = video.shape[:-4] if video.ndim >= 5 else ()
    n = int(np.prod(lead)) if lead else 1
    rot = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_rotation)
    sc = 1 + (torch.rand(n, generator=generator) * 2 - 1) * max_scale
    sh = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift * 2
    theta = torch.stack([torch.stack([sc * rot.cos(), -sc * rot.sin(), sh[:, 0]], -1),
                         torch.stack([sc * rot.sin(), sc * rot.cos(), sh[:, 1]], -1)], 1)  # [n,2,3]
    H, W = video.shape[-2:]
    T = video.shape[-4] if video.ndim >= 4 else 1
    x = video.reshape(n, T, 3, H, W)
    th = theta.to(video)[:, None].expand(n, T, 2, 3).reshape(n * T, 2, 3)
    grid = F.affine_grid(th, (n * T, 3, H, W), align_corners=False)
    y = F.grid_sample(x.reshape(n * T, 3, H, W), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return y.reshape(video.shape), theta.reshape(*lead, 2, 3) if lead else theta[0]


NOISE_KINDS = ("white", "speech_shaped", "babble", "nonstationary")


def _speech_shaped(n: int, rng: np.random.Generator, sample_rate: int) -> torch.Tensor:
    """Stationary noise with the long-term average speech spectrum (flat to 500 Hz, then -9 dB/octave)."""
    spec = torch.randn(n // 2 + 1, dtype=torch.complex64, generator=torch.Generator().manual_seed(int(rng.integers(2**62))))
    f = torch.linspace(0, sample_rate / 2, n // 2 + 1)
    shape = 1 / (1 + (f / 500.0) ** 1.5)
    return torch.fft.irfft(spec * shape, n=n)


def make_noise(kind: str, n_samples: int, seed: int = 0, sample_rate: int = 16000, babble_voices: int = 6
               ) -> torch.Tensor:
    """A noise waveform [n_samples] of unit RMS. kind in NOISE_KINDS."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}, got {kind!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    rng = np.random.default_rng(seed)
    if kind == "white":
        x = torch.from_numpy(rng.standard_normal(n_samples).astype(np.float32))
    elif kind == "speech_shaped":
        x = _speech_shaped(n_samples, rng, sample_rate)
    elif kind == "babble":
        from avfh_core.data import speech as sp

        x = torch.zeros(n_samples)
        words = sp.VOCABULARY
        for _ in range(babble_voices):
            v = sp.voice_from_attributes("m" if rng.random() < 0.5 else "f", float(rng.uniform(18, 75)),
                                         rng.random(sp.VOICE_UNIFORMS))
            text = " ".join(words[int(k)] for k in rng.integers(len(words), size=1 + n_samples // 8000))
            utt = sp.synthesize(text, v, n_samples, rng, centre=float(rng.uniform(0.3, 0.7)) * n_samples / sample_rate)
            x = x + torch.from_numpy(utt.audio) / max(float(np.sqrt((utt.audio**2).mean())), 1e-6)
    else:  # nonstationary: coloured noise gated by random bursts (doors, clatter, traffic)
        base = _speech_shaped(n_samples, rng, sample_rate) * 0.5 + torch.from_numpy(
            rng.standard_normal(n_samples).astype(np.float32)) * 0.5
        t = torch.arange(n_samples) / sample_rate
        env = torch.zeros(n_samples)
        for _ in range(max(1, int(n_samples / sample_rate * 3))):
            c, w = rng.uniform(0, n_samples / sample_rate), rng.uniform(0.03, 0.3)
            env = env + float(rng.uniform(0.5, 2.0)) * torch.exp(-0.5 * ((t - c) / w) ** 2)
        x = base * (0.1 + env)
    return x / x.pow(2).mean().sqrt().clamp_min(1e-8)


def mix_noise(audio: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """audio + g * noise with g chosen so that 10 log10(P_audio / P_noise) = snr_db (powers over the whole clip).

    `noise` is tiled or cropped to the audio length. Silent audio raises (its SNR is undefined)."""
    if not isinstance(audio, torch.Tensor) or not audio.is_floating_point():
        raise ValueError(f"audio must be a float tensor [..., S], got {type(audio).__name__}")
    if noise.ndim != 1 or noise.numel() == 0:
        raise ValueError(f"noise must be a non-empty waveform [S], got shape {tuple(noise.shape)}")
    if not -50.0 <= float(snr_db) <= 100.0:
        raise ValueError(f"snr_db must be a level in dB in [-50, 100], got {snr_db}")
    S = audio.shape[-1]
    reps = (S + noise.numel() - 1) // noise.numel()
    nz = noise.repeat(reps)[:S].to(audio)
    p_a = audio.pow(2).mean(-1, keepdim=True)
    if bool((p_a <= 0).any()):
        raise ValueError("audio is silent: the SNR is undefined")
    p_n = nz.pow(2).mean().clamp_min(1e-12)
    g = torch.sqrt(p_a / (p_n * 10 ** (float(snr_db) / 10)))
    return audio + g * nz


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Measured SNR (dB) of `noisy` against `clean`."""
    n = noisy - clean
    return 10 * torch.log10(clean.pow(2).mean(-1) / n.pow(2).mean(-1).clamp_min(1e-20))


def erase_boxes(video: torch.Tensor, boxes: torch.Tensor, box_scale: float = 1.0, margin: int = 1) -> torch.Tensor:
    """`video` [T, 3, H, W] with the box of each frame (`boxes` [T, 4] as x0, y0, x1, y1, in pixels of an image
    `box_scale` times larger, e.g. HR mouth boxes on LR frames: box_scale = 4) filled with the clip's mean colour.

    The box is widened to whole pixels plus `margin` pixels on each side and clipped to the frame. The fill is the
    per-channel mean of the whole clip (every pixel of every frame), a constant that carries nothing frame-specific
    about what the boxes showed. Returns a new tensor; the input is not changed."""
    _check_video(video)
    if video.ndim != 4:
        raise ValueError(f"video must be [T, 3, H, W], got {tuple(video.shape)}")
    if not isinstance(boxes, torch.Tensor) or boxes.shape != (video.shape[0], 4):
        raise ValueError(f"boxes must be [T, 4] = [{video.shape[0]}, 4] for video {tuple(video.shape)}, got "
                         f"{tuple(getattr(boxes, 'shape', ()))}")
    if not box_scale > 0:
        raise ValueError(f"box_scale must be > 0, got {box_scale}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    H, W = video.shape[-2:]
    out = video.clone()
    fill = video.mean(dim=(0, 2, 3))
    b = boxes.detach().double().cpu() / box_scale
    for t in range(video.shape[0]):
        x0 = max(0, math.floor(float(b[t, 0])) - margin)
        y0 = max(0, math.floor(float(b[t, 1])) - margin)
        x1 = min(W, math.ceil(float(b[t, 2])) + margin)
        y1 = min(H, math.ceil(float(b[t, 3])) + margin)
        if x1 > x0 and y1 > y0:
            out[t, :, y0:y1, x0:x1] = fill[:, None, None]
    return out
