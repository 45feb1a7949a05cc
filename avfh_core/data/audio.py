"""Audio features aligned to video frames: log-mel and log-linear spectrograms (torchaudio transforms).

VFH-GAN (Sharma et al., Sec. III-A) feeds an 80-bin log-mel window per video frame to its audio branch; the
authors' code uses n_fft 1024, window 800, 55-7600 Hz. We keep those and choose the hop so that an integer number
of mel steps covers each video frame: hop = sample_rate / fps / MEL_STEPS_PER_FRAME = 16000 / 25 / 16 = 40 samples.
Step k covers samples [k hop, (k+1) hop) (centred STFT, last partial step dropped), so frame t owns steps
[16 t, 16 (t+1)). "Learning to Have an Ear" (Meishvili et al., Sec. 3.2) uses a log-magnitude linear-frequency
spectrogram (257 bins): `log_linear`.
"""

from __future__ import annotations

import functools

import torch
import torchaudio

MEL_STEPS_PER_FRAME = 16
N_MELS = 80


@functools.lru_cache(maxsize=16)
def _mel_transform(sample_rate: int, hop: int, n_fft: int, win: int, n_mels: int, f_min: float, f_max: float):
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, win_length=win, hop_length=hop, f_min=f_min, f_max=f_max,
        n_mels=n_mels, power=2.0, center=True, norm="slaney", mel_scale="slaney",
    )


def frame_hop(sample_rate: int, fps: float, steps_per_frame: int = MEL_STEPS_PER_FRAME) -> int:
    hop = sample_rate / fps / steps_per_frame
    if abs(hop - round(hop)) > 1e-6:
        raise ValueError(f"sample_rate={sample_rate} / fps={fps} / {steps_per_frame} steps is not an integer hop; "
                         "resample the audio (e.g. to 16 kHz)")
    return int(round(hop))


def _check_audio(audio: torch.Tensor, sample_rate: int, fps: float) -> tuple[int, int]:
    if not isinstance(audio, torch.Tensor) or not audio.is_floating_point():
        raise ValueError(f"audio must be a float tensor [..., S], got {type(audio).__name__} "
                         f"{getattr(audio, 'dtype', '')}")
    per_frame = sample_rate / fps
    n_frames = int(round(audio.shape[-1] / per_frame))
    if n_frames < 1:
        raise ValueError(f"audio of {audio.shape[-1]} samples is shorter than one video frame ({per_frame} samples)")
    return n_frames, frame_hop(sample_rate, fps)


def log_mel(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0, n_mels: int = N_MELS,
            n_fft: int = 1024, win_length: int = 800, f_min: float = 55.0, f_max: float = 7600.0,
            eps: float = 1e-5) -> torch.Tensor:
    """log(mel power + eps): audio [..., S] -> [..., n_mels, T * 16] where T = round(S / (sample_rate / fps))."""
    n_frames, hop = _check_audio(audio, sample_rate, fps)
    tf = _mel_transform(int(sample_rate), hop, n_fft, win_length, n_mels, f_min, min(f_max, sample_rate / 2))
    tf = tf.to(audio.device)
    mel = tf(audio)
    steps = n_frames * MEL_STEPS_PER_FRAME
    if mel.shape[-1] < steps:
        mel = torch.nn.functional.pad(mel, (0, steps - mel.shape[-1]), mode="replicate")
    return torch.log(mel[..., :steps] + eps)


def log_linear(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0, n_fft: int = 512,
               win_length: int = 400, eps: float = 1e-5) -> torch.Tensor:
    """log(|STFT| + eps), linear frequency: audio [..., S] -> [..., n_fft/2+1, T * 16] (257 bins by default)."""
    n_frames, hop = _check_audio(audio, sample_rate, fps)
    shape = audio.shape
    x = audio.reshape(-1, shape[-1])
    win = torch.hann_window(win_length, device=audio.device)
    spec = torch.stft(x, n_fft, hop, win_length, window=win, center=True, return_complex=True).abs()
    spec = spec.reshape(*shape[:-1], spec.shape[-2], spec.shape[-1])
    steps = n_frames * MEL_STEPS_PER_FRAME
    if spec.shape[-1] < steps:
        spec = torch.nn.functional.pad(spec, (0, steps - spec.shape[-1]), mode="replicate")
    return torch.log(spec[..., :steps] + eps)


def frame_window(feat: torch.Tensor, t: int, window: int, steps_per_frame: int = MEL_STEPS_PER_FRAME
                 ) -> torch.Tensor:
    """The feature steps of frames [t - window, t + window] -> [..., F, (2 window + 1) * steps_per_frame];
    frames outside the clip are edge-padded."""
    n_frames = feat.shape[-1] // steps_per_frame
    if not 0 <= t < n_frames:
        raise ValueError(f"frame t={t} outside a clip of {n_frames} frames")
    lo, hi = (t - window) * steps_per_frame, (t + window + 1) * steps_per_frame
    pl, pr = max(0, -lo), max(0, hi - feat.shape[-1])
    x = feat[..., max(lo, 0): min(hi, feat.shape[-1])]
    if pl or pr:
        flat = x.reshape(-1, x.shape[-2], x.shape[-1])
        flat = torch.nn.functional.pad(flat, (pl, pr), mode="replicate")
        x = flat.reshape(*x.shape[:-1], flat.shape[-1])
    return x
