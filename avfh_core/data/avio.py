"""Audio/video file I/O through PyAV (bundled FFmpeg): read and write mp4 (H.264/AAC), mpg (MPEG-1), m4a, wav.

Every error names the file and what is wrong (`MediaError`, a ValueError), so a bad file in a DataLoader worker
surfaces as one readable line. AAC decoders return whole 1024-sample frames, i.e. audio padded past the end of the
stream: `read_audio` trims to the stream's declared duration (DESIGN.md, measured facts).
"""

from __future__ import annotations

import numbers
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch


class MediaError(ValueError):
    """A media file that cannot be used: unreadable, truncated, missing a stream, or inconsistent."""


def _av():
    import av

    return av


def _open(path: str | os.PathLike):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file")
    av = _av()
    try:
        return av.open(str(path))
    except av.error.FFmpegError as e:
        raise MediaError(f"{path}: not a readable media file ({type(e).__name__}: {e})") from None


def probe(path: str | os.PathLike) -> dict:
    """Stream summary: {'video': {frames, fps, width, height, duration} | None, 'audio': {rate, channels,
    duration} | None}."""
    with _open(path) as c:
        out: dict = {"video": None, "audio": None}
        if c.streams.video:
            v = c.streams.video[0]
            dur = float(v.duration * v.time_base) if v.duration else (c.duration / 1e6 if c.duration else None)
            out["video"] = dict(frames=int(v.frames), fps=float(v.average_rate or v.guessed_rate or 0),
                                width=v.codec_context.width, height=v.codec_context.height, duration=dur)
        if c.streams.audio:
            a = c.streams.audio[0]
            dur = float(a.duration * a.time_base) if a.duration else (c.duration / 1e6 if c.duration else None)
            out["audio"] = dict(rate=int(a.rate), channels=int(a.channels), duration=dur)
        return out


def read_video(path: str | os.PathLike, fps: float | None = None) -> tuple[torch.Tensor, float]:
    """Decode all frames -> (video [T, 3, H, W] float in [0, 1], fps). With `fps`, frames are resampled to that
    rate by nearest timestamp (e.g. RAVDESS 29.97 -> 25)."""
    path = Path(path)
    av = _av()
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(f"{path}: has no video stream")
        s = c.streams.video[0]
        rate = float(s.average_rate or s.guessed_rate or 25)
        frames, times = [], []
        try:
            for f in c.decode(video=0):
                frames.append(f.to_ndarray(format="rgb24"))
                times.append(float(f.time) if f.time is not None else len(times) / rate)
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: corrupt or truncated video after {len(frames)} frames ({e})") from None
    if not frames:
        raise MediaError(f"{path}: video stream has no decodable frames (corrupt or truncated)")
    expected = s.frames
    if expected and len(frames) < 0.9 * expected:
        raise MediaError(f"{path}: truncated video: decoded {len(frames)} of {expected} frames")
    video = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    if fps is not None and abs(fps - rate) > 1e-3:
        t0 = times[0]
        n_out = int(np.floor((times[-1] - t0) * fps + 1e-6)) + 1
        src = np.asarray(times) - t0
        idx = [int(np.argmin(np.abs(src - k / fps))) for k in range(n_out)]
        video, rate = video[idx], float(fps)
    return video, rate


_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63}
# Lossy decoders (AAC, MP2, MP3, ...) return float samples that overshoot full scale by a little where the original
# recording was clipped; beyond this peak the file was encoded from unnormalised floats, not clipped audio.
LOSSY_OVERSHOOT_MAX = 2.0


def _frame_to_float(frame) -> np.ndarray:
    """A decoded audio frame -> float array [channels, samples] in the file's own scale (integers mapped to
    [-1, 1) as FFmpeg does: s16 / 32768, u8 centred at 128)."""
    fmt = frame.format
    x = frame.to_ndarray()
    channels = len(frame.layout.channels)
    x = x.reshape(channels, -1) if fmt.is_planar else x.reshape(-1, channels).T
    base = fmt.packed.name
    if base in _INT_SCALE:
        x = x.astype(np.float64 if base in ("s32", "s64") else np.float32)
        if base == "u8":
            x = x - 128.0
        x = x / _INT_SCALE[base]
    return x


def _resample_mono(x: np.ndarray, rate: int, out_rate: int) -> np.ndarray:
    av = _av()
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None], dtype=np.float32), format="flt", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    res = av.AudioResampler(format="flt", layout="mono", rate=out_rate)
    out = [g.to_ndarray().reshape(-1) for g in res.resample(frame)]
    out += [g.to_ndarray().reshape(-1) for g in res.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def read_audio(path: str | os.PathLike, sample_rate: int | None = 16000, expect_rate: int | None = None
               ) -> tuple[torch.Tensor, int]:
    """Decode the first audio stream to mono float32 in [-1, 1] -> (waveform [S], rate).

    sample_rate: resample to this rate (None: keep the file's rate). expect_rate: raise MediaError when the file's
    native rate differs (a guard for datasets with a known rate). The result is trimmed to the stream duration
    (AAC frame padding removed).

    Conversions (all documented, none silent about bad data):
    - integer PCM is scaled as FFmpeg does (s16 / 32768);
    - several channels are downmixed to their mean (identical channels at peak 0.9 stay at peak 0.9; FFmpeg's own
      stereo -> mono matrix sums at -3 dB and would give 1.27);
    - lossy decoders' overshoot of full scale (peak up to LOSSY_OVERSHOOT_MAX, from clipped recordings) and the
      resampling filter's overshoot are clipped to [-1, 1].
    Refused with MediaError naming the file: NaN or infinite samples (with their count); float PCM (e.g. a float
    wav) whose peak exceeds 1 (by more than 1e-4, float rounding): this project does not guess a gain, rescale the file (e.g. divide by its peak);
    decoded lossy audio with a peak above LOSSY_OVERSHOOT_MAX."""
    path = Path(path)
    av = _av()
    with _open(path) as c:
        if not c.streams.audio:
            raise MediaError(f"{path}: has no audio stream")
        s = c.streams.audio[0]
        native = int(s.rate)
        codec = s.codec_context.name or ""
        if expect_rate is not None and native != expect_rate:
            raise MediaError(f"{path}: unexpected audio sample rate {native} Hz (expected {expect_rate} Hz); "
                             "pass resample=True to convert")
        out_rate = native if sample_rate is None else int(sample_rate)
        dur = float(s.duration * s.time_base) if s.duration else None
        chunks = []
        try:
            for f in c.decode(audio=0):
                chunks.append(_frame_to_float(f))
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: corrupt or truncated audio ({e})") from None
    if not chunks or sum(ch.shape[1] for ch in chunks) == 0:
        raise MediaError(f"{path}: audio stream has no decodable samples")
    raw = np.concatenate(chunks, axis=1)
    bad = int(raw.size - np.isfinite(raw).sum())
    if bad:
        raise MediaError(f"{path}: {bad} of {raw.size} audio samples are NaN or infinite")
    peak = float(np.abs(raw).max())
    if peak > 1 + 1e-4 and (codec.startswith("pcm_") or peak > LOSSY_OVERSHOOT_MAX):
        what = f"{codec} samples" if codec.startswith("pcm_") else f"decoded {codec} audio"
        raise MediaError(f"{path}: {what} peak at {peak:.4g}, outside the full-scale range [-1, 1]; rescale the "
                         "file (e.g. divide by its peak) before loading")
    x = raw.mean(0).astype(np.float32)
    if out_rate != native:
        x = _resample_mono(x, native, out_rate)
    if dur is not None:
        x = x[: int(round(dur * out_rate))]
    x = np.clip(x, -1.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(x)), out_rate


def fit_audio_to_video(audio: torch.Tensor, sample_rate: int, n_frames: int, fps: float, path: str | os.PathLike,
                       tolerance_s: float = 0.12) -> torch.Tensor:
    """Pad (with zeros) or trim audio to exactly n_frames / fps seconds; MediaError if they differ by more than
    `tolerance_s` (video and audio of mismatched lengths)."""
    need = int(round(n_frames / fps * sample_rate))
    diff = abs(audio.shape[-1] - need) / sample_rate
    if diff > tolerance_s:
        raise MediaError(f"{path}: audio lasts {audio.shape[-1] / sample_rate:.3f} s but the video "
                         f"{n_frames / fps:.3f} s ({n_frames} frames at {fps:g} fps): mismatched lengths")
    if audio.shape[-1] >= need:
        return audio[..., :need]
    return torch.nn.functional.pad(audio, (0, need - audio.shape[-1]))


def _to_uint8_frames(video: torch.Tensor, path: str | os.PathLike = "video") -> np.ndarray:
    if not isinstance(video, torch.Tensor) or video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(f"{path}: video must be [T, 3, H, W], got {getattr(video, 'shape', video)!r}")
    return (video.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _audio_stream(container, codec: str, sample_rate: int):
    stream = container.add_stream(codec, rate=sample_rate, layout="mono")
    stream.time_base = Fraction(1, sample_rate)
    return stream


def _encode_audio(container, stream, audio: torch.Tensor, sample_rate: int) -> None:
    av = _av()
    x = audio.detach().float().clamp(-1, 1).numpy()[None]
    fmt = stream.codec_context.format.name if stream.codec_context.format else "flt"
    if fmt.startswith("s16"):
        x = (x * 32767).round().astype(np.int16)
        fmt = "s16"
    else:
        fmt = "flt"
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format=fmt, layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, sample_rate)
    for p in stream.encode(frame):
        container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


_EVEN_SIZE_CODECS = ("h264", "libx264", "hevc", "libx265")  # 4:2:0 chroma: width and height must be even


def write_av(path: str | os.PathLike, video: torch.Tensor | None, audio: torch.Tensor | None = None,
             fps: float = 25.0, sample_rate: int = 16000, video_codec: str | None = None,
             audio_codec: str | None = None) -> Path:
    """Write video [T,3,H,W] and/or mono audio [S]. The container follows the suffix: .mp4 (H.264 + AAC),
    .mpg (MPEG-1 + MP2), .m4a (AAC), .wav (PCM 16-bit). Video values are clamped to [0, 1] and audio to [-1, 1].

    Checked before anything is written, each a ValueError naming the file: frame sizes must be even for H.264
    (yuv420p halves the chroma planes; the message gives the cropped size), video and audio must be finite, fps
    and sample_rate positive. An encoder failure is a MediaError naming the file, and leaves no partial file."""
    path = Path(path)
    suffix = path.suffix.lower()
    defaults = {".mp4": ("h264", "aac"), ".mpg": ("mpeg1video", "mp2"), ".m4a": (None, "aac"),
                ".wav": (None, "pcm_s16le"), ".mkv": ("h264", "aac")}
    if suffix not in defaults:
        raise ValueError(f"{path}: unsupported suffix {suffix!r}; use one of {sorted(defaults)}")
    vcodec = video_codec or defaults[suffix][0]
    acodec = audio_codec or defaults[suffix][1]
    if video is None and audio is None:
        raise ValueError(f"{path}: nothing to write (video and audio are both None)")
    if video is not None:
        if vcodec is None:
            raise ValueError(f"{path}: a {suffix} file cannot hold video")
        if not (isinstance(fps, numbers.Real) and np.isfinite(fps) and fps > 0):
            raise ValueError(f"{path}: fps must be a positive number, got {fps!r}")
        _check_finite(video, f"{path}: video")
        frames = _to_uint8_frames(video, path)
        H, W = frames.shape[1], frames.shape[2]
        if vcodec in _EVEN_SIZE_CODECS and (H % 2 or W % 2):
            raise ValueError(f"{path}: {vcodec} (yuv420p) needs an even frame width and height, got {W}x{H} (WxH); "
                             f"crop to {W - W % 2}x{H - H % 2}, e.g. video[..., :{H - H % 2}, :{W - W % 2}], "
                             "or pad by one pixel")
    if audio is not None:
        if not (isinstance(sample_rate, numbers.Integral) and sample_rate > 0):
            raise ValueError(f"{path}: sample_rate must be a positive int (Hz), got {sample_rate!r}")
        if not isinstance(audio, torch.Tensor) or audio.ndim != 1:
            raise ValueError(f"{path}: audio must be a mono waveform [S], got {getattr(audio, 'shape', audio)!r}")
        _check_finite(audio, f"{path}: audio")
    path.parent.mkdir(parents=True, exist_ok=True)
    av = _av()
    try:
        with av.open(str(path), "w") as c:
            vs = as_ = None
            if video is not None:  # every stream is added before the first packet is muxed
                vs = c.add_stream(vcodec, rate=Fraction(fps).limit_denominator(1001))
                vs.width, vs.height = W, H
                vs.pix_fmt = "yuv420p"
                if vcodec == "h264":
                    vs.options = {"crf": "18", "preset": "veryfast"}
            if audio is not None:
                as_ = _audio_stream(c, acodec, sample_rate)
            if vs is not None:
                for arr in frames:
                    for p in vs.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                        c.mux(p)
                for p in vs.encode(None):
                    c.mux(p)
            if as_ is not None:
                _encode_audio(c, as_, audio, sample_rate)
    except av.error.FFmpegError as e:
        path.unlink(missing_ok=True)
        raise MediaError(f"{path}: encoding failed (video codec {vcodec}, audio codec {acodec}): {e}") from None
    return path


def _check_finite(x: torch.Tensor, what: str) -> None:
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        raise ValueError(f"{what} has {int(finite.numel() - finite.sum())} NaN or infinite values (of {x.numel()})")
