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
    """Audio samples per feature step: sample_rate / fps / steps_per_frame, which must be an integer. The message
    says which side to resample: a video rate other than 25 fps (e.g. 29.97) is fixed by resampling the video
    (`avio.read_video(path, fps=25)`), an audio rate other than 16 kHz by resampling the audio."""
    hop = sample_rate / fps / steps_per_frame
    if abs(hop - round(hop)) > 1e-6:
        def integer(rate: float, f: float) -> bool:
            return abs(rate / f / steps_per_frame - round(rate / f / steps_per_frame)) <= 1e-6

        video_fix = "resample the video to 25 fps (e.g. avio.read_video(path, fps=25); the real-dataset loaders do this)"
        audio_fix = "resample the audio to 16 kHz (e.g. avio.read_audio(path, sample_rate=16000))"
        if abs(fps - 25.0) > 1e-6 and integer(sample_rate, 25.0):
            fix = video_fix
        elif integer(16000, fps):
            fix = audio_fix
        else:
            fix = f"{video_fix} and {audio_fix}"
        raise ValueError(f"sample_rate={sample_rate} Hz / fps={fps:g} / {steps_per_frame} steps per frame = "
                         f"{hop:.4g} is not an integer hop: {fix}")
    return int(round(hop))


def _check_audio(audio: torch.Tensor, sample_rate: int, fps: float, name: str = "audio"
                 ) -> tuple[torch.Tensor, int, int]:
    """-> (audio as float32, frames, hop). Any floating dtype is accepted and computed in float32 (float64 input
    gives float32 features: the models are float32 and the filterbank is); integer and complex tensors, and
    NaN or infinite samples, are refused naming the tensor."""
    if not isinstance(audio, torch.Tensor):
        raise ValueError(f"{name} must be a float tensor [..., S], got {type(audio).__name__}")
    if audio.is_complex() or not audio.is_floating_point():
        hint = (" (integer PCM: convert first, e.g. audio.float() / 32768 for int16)"
                if not audio.is_complex() and audio.dtype != torch.bool else "")
        raise ValueError(f"{name} must be a real float waveform [..., S], got dtype {audio.dtype}{hint}")
    if audio.ndim == 0:
        raise ValueError(f"{name} must be a waveform [..., S], got a scalar")
    finite = torch.isfinite(audio)
    if not bool(finite.all()):
        bad = int(finite.numel() - finite.sum())
        raise ValueError(f"{name} has {bad} NaN or infinite samples of {audio.numel()}")
    per_frame = sample_rate / fps
    n_frames = int(round(audio.shape[-1] / per_frame))
    if n_frames < 1:
        raise ValueError(f"{name} of {audio.shape[-1]} samples is shorter than one video frame ({per_frame} samples)")
    return audio.float(), n_frames, frame_hop(sample_rate, fps)


def log_mel(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0, n_mels: int = N_MELS,
            n_fft: int = 1024, win_length: int = 800, f_min: float = 55.0, f_max: float = 7600.0,
            eps: float = 1e-5) -> torch.Tensor:
    """log(mel power + eps): audio [..., S] -> float32 [..., n_mels, T * 16] where T = round(S / (sample_rate / fps)).

    Any float dtype is computed in float32; integer, complex or non-finite audio raises ValueError."""
    audio, n_frames, hop = _check_audio(audio, sample_rate, fps)
    tf = _mel_transform(int(sample_rate), hop, n_fft, win_length, n_mels, f_min, min(f_max, sample_rate / 2))
    tf = tf.to(audio.device)
    mel = tf(audio)
    steps = n_frames * MEL_STEPS_PER_FRAME
    if mel.shape[-1] < steps:
        mel = torch.nn.functional.pad(mel, (0, steps - mel.shape[-1]), mode="replicate")
    return torch.log(mel[..., :steps] + eps)


def log_linear(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0, n_fft: int = 512,
               win_length: int = 400, eps: float = 1e-5) -> torch.Tensor:
    """log(|STFT| + eps), linear frequency: audio [..., S] -> float32 [..., n_fft/2+1, T * 16] (257 bins by
    default). Dtypes as `log_mel`."""
    audio, n_frames, hop = _check_audio(audio, sample_rate, fps)
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
