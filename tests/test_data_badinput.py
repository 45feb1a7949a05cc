"""Bad input at the data layer is refused (or converted in a documented way), never propagated (issue 9, item 4).

Fixtures are tiny files written to tmp_path: float/int wavs and AAC written sample-exact with PyAV, clips from the
synthetic world.
"""

import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from avfh_core.data import SynthConfig, SynthWorld
from avfh_core.data.audio import frame_hop, log_linear, log_mel
from avfh_core.data.avio import MediaError, read_audio, write_av
from avfh_core.data.real import GRID, LRW, RAVDESS, VoxCeleb2
from avfh_core.data.windows import WindowDataset

T = 6


@pytest.fixture(scope="module")
def clip():
    return SynthWorld(SynthConfig(image_size=32, num_frames=T, vocab_size=4, render_frontal=False)).clip(0)


def _tone(peak: float, n: int = 16000, rate: int = 16000) -> np.ndarray:
    return (peak * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)


def _write_raw(path, channels: np.ndarray, rate: int = 16000, codec: str = "pcm_f32le"):
    """Write `channels` [C, S] exactly as given (no clamping, unlike write_av): float or s16 PCM wav, or AAC."""
    x = np.atleast_2d(channels).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = {1: "mono", 2: "stereo"}[x.shape[0]]
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate, layout=layout)
        ints = {"pcm_s16le": ("s16", np.int16, 2**15, 0), "pcm_s32le": ("s32", np.int32, 2**31, 0),
                "pcm_u8": ("u8", np.uint8, 2**7, 2**7)}  # full scale 1.0 = 2^(bits-1), as FFmpeg reads it
        if codec in ints:
            fmt, dtype, scale, offset = ints[codec]
            q = ((x.T.reshape(1, -1).astype(np.float64) * scale).round() + offset).clip(
                np.iinfo(dtype).min, np.iinfo(dtype).max)
            frames = [(q.astype(dtype), fmt)]
        elif codec == "aac":  # planar float, whole 1024-sample frames
            frames = [(np.ascontiguousarray(x[:, k: k + 1024]), "fltp") for k in range(0, x.shape[1], 1024)]
        else:
            frames = [(np.ascontiguousarray(x.T.reshape(1, -1)), "flt")]
        pts = 0
        for data, fmt in frames:
            f = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
            f.sample_rate, f.pts, f.time_base = rate, pts, Fraction(1, rate)
            pts += f.samples
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


# ---- read_audio ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_wav_is_refused_naming_file_and_count(tmp_path, bad):
    x = _tone(0.5)
    x[100:107] = bad
    path = _write_raw(tmp_path / "speech.wav", x)
    with pytest.raises(MediaError, match=r"speech\.wav: 7 of 16000 audio samples are NaN or infinite"):
        read_audio(path)


@pytest.mark.parametrize("channels", [1, 2])
def test_float_wav_beyond_full_scale_is_refused_naming_file_and_peak(tmp_path, channels):
    path = _write_raw(tmp_path / "loud.wav", np.stack([_tone(3.9)] * channels))
    with pytest.raises(MediaError, match=r"loud\.wav: pcm_f32le samples peak at 3\.9, outside .*\[-1, 1\]"):
        read_audio(path)
    with pytest.raises(MediaError, match="peak at 3.9"):  # also without resampling
        read_audio(path, sample_rate=None)


def test_full_scale_float_wav_is_kept(tmp_path):
    a, sr = read_audio(_write_raw(tmp_path / "full.wav", _tone(1.0, rate=48000), rate=48000))
    assert sr == 16000 and float(a.abs().max()) <= 1.0  # resampling overshoot is clipped to the contract
    assert float(a.abs().max()) > 0.99


@pytest.mark.parametrize("codec,rate", [("pcm_f32le", 16000), ("pcm_s16le", 16000), ("pcm_f32le", 48000)])
def test_stereo_downmix_is_the_channel_mean(tmp_path, codec, rate):
    left, right = _tone(0.9, 2 * rate, rate), _tone(0.3, 2 * rate, rate)
    same, _ = read_audio(_write_raw(tmp_path / "same.wav", np.stack([left, left]), rate, codec))
    assert abs(float(same.abs().max()) - 0.9) < 2e-3  # FFmpeg's stereo -> mono matrix gave 0.9 * sqrt(2) = 1.27
    mono, _ = read_audio(_write_raw(tmp_path / "mono.wav", left, rate, codec))
    torch.testing.assert_close(same, mono, atol=1e-6, rtol=0)
    mixed, _ = read_audio(_write_raw(tmp_path / "mixed.wav", np.stack([left, right]), rate, codec))
    assert abs(float(mixed.abs().max()) - 0.6) < 2e-3  # (0.9 + 0.3) / 2


@pytest.mark.parametrize("codec,lsb", [("pcm_s16le", 2.0**-15), ("pcm_s32le", 2.0**-31), ("pcm_u8", 2.0**-7)])
def test_integer_pcm_is_scaled_to_full_scale(tmp_path, codec, lsb):
    x = _tone(0.9, 4000)
    a, sr = read_audio(_write_raw(tmp_path / "int.wav", x, codec=codec), sample_rate=None)
    assert sr == 16000 and a.dtype == torch.float32
    assert float((a - torch.from_numpy(x)).abs().max()) <= lsb / 2 + 1e-7  # rounding only


def test_lossy_overshoot_is_clipped_and_unnormalised_lossy_audio_refused(tmp_path):
    a, _ = read_audio(_write_raw(tmp_path / "hot.m4a", _tone(1.3), codec="aac"))  # a clipped master's overshoot
    assert float(a.abs().max()) <= 1.0 and float(a.abs().max()) > 0.9
    with pytest.raises(MediaError, match=r"loud\.m4a: decoded aac audio peak at 3\.\d+"):
        read_audio(_write_raw(tmp_path / "loud.m4a", _tone(3.9), codec="aac"))


# ---- log_mel / log_linear --------------------------------------------------------------------------------------

def test_log_mel_accepts_float64_and_computes_in_float32(clip):
    ref = log_mel(clip.audio)
    for fn in (log_mel, log_linear):
        out = fn(clip.audio.double())
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, fn(clip.audio))
    assert ref.shape == (80, T * 16)


def test_log_mel_refuses_integer_complex_and_non_finite_audio(clip):
    with pytest.raises(ValueError, match=r"real float waveform.*torch\.int16.*32768"):
        log_mel((clip.audio * 32767).short())
    with pytest.raises(ValueError, match=r"real float waveform.*complex64"):
        log_mel(torch.complex(clip.audio, clip.audio))
    a = clip.audio.clone()
    a[:5] = float("nan")
    with pytest.raises(ValueError, match="audio has 5 NaN or infinite samples"):
        log_mel(a)
    with pytest.raises(ValueError, match="audio has 5 NaN"):
        log_linear(a)


def test_29_97_fps_is_told_to_resample_the_video():
    for rate in (16000, 48000):
        with pytest.raises(ValueError, match="resample the video to 25 fps") as e:
            frame_hop(rate, 30000 / 1001)
        assert "resample the audio" not in str(e.value)
    with pytest.raises(ValueError, match="resample the audio to 16 kHz"):
        frame_hop(44100, 25.0)
    assert frame_hop(16000, 25.0) == 40 and frame_hop(48000, 25.0) == 120


# ---- AVSample contract and WindowDataset -----------------------------------------------------------------------

def _nan_video(clip):
    v = clip.video.clone()
    v[2, 0, 3, 4] = float("nan")
    return v


def test_validate_refuses_values_outside_the_contract(clip):
    clip = clip.replace(source="synth:test:0")
    cases = [(dict(video=_nan_video(clip)), r"synth:test:0: video has 1 NaN or infinite"),
             (dict(video=clip.video / clip.video.max() * 1.5), r"synth:test:0: video has values in \[[\d.]+, 1\.5\], outside the "
                                            r"contract \[0, 1\]"),
             (dict(video=clip.video - 0.5), r"video has values in \[-0\.\d+, "),
             (dict(audio=clip.audio / clip.audio.abs().max() * 1.27), r"audio has values .*1\.27.*\[-1, 1\]"),
             (dict(audio=torch.full_like(clip.audio, float("inf"))), r"audio has \d+ NaN or infinite"),
             (dict(audio=(clip.audio * 32767).short()), r"audio must be float in \[-1,1\], got dtype torch\.int16"),
             (dict(frontal=clip.video + 0.2), r"frontal has values"),
             (dict(pose=torch.full((T, 3), float("inf"))), r"pose contains infinite angles"),
             (dict(fps=float("nan")), r"fps must be a positive number"),
             (dict(sample_rate=16000.0), r"sample_rate must be a positive int")]
    for change, msg in cases:
        with pytest.raises(ValueError, match=msg):
            clip.replace(**change).validate()
    lm = clip.landmarks.clone()
    lm[0] = float("nan")  # a frame where the detector found no face: allowed
    clip.replace(landmarks=lm).validate()
    lm[0] = float("inf")
    with pytest.raises(ValueError, match="landmarks contain infinite"):
        clip.replace(landmarks=lm).validate()


def test_window_dataset_refuses_bad_clips_naming_them(clip):
    good = clip.replace(source="good")
    a = clip.audio.clone()
    a[1000:1100] = float("nan")
    cases = [(good.replace(audio=a, source="nanaudio"), r"samples\[1\]: nanaudio: audio has 100 NaN"),
             (good.replace(video=_nan_video(clip), source="nanvideo"), r"samples\[1\]: nanvideo: video has 1 NaN"),
             (good.replace(video=clip.video * 1.2, source="bright"), r"samples\[1\]: bright: video has values"),
             (good.replace(fps=30000 / 1001, source="ntsc"),
              r"samples\[1\] \(ntsc\): log-mel .*resample the video to 25 fps")]
    for bad, msg in cases:
        with pytest.raises(ValueError, match=msg):
            WindowDataset([good, bad], window=1, scale=2)
    ds = WindowDataset([good], window=1, scale=2)
    assert all(bool(torch.isfinite(ds[k]["mel"]).all()) for k in range(len(ds)))


def test_samples_built_by_the_loaders_hold_the_contract(tmp_path, clip):
    # stereo 0.9 float audio beside the video: the loaded sample stays inside [-1, 1] and validates
    x = clip.audio.numpy() / float(clip.audio.abs().max()) * 0.9
    d = tmp_path / "s1"
    write_av(d / "video" / "bbaf2n.mpg", clip.video, None)
    _write_raw(d / "audio" / "bbaf2n.wav", np.stack([x, x]))
    s = GRID(tmp_path)[0]
    assert float(s.audio.abs().max()) <= 0.9 + 1e-3
    _write_raw(d / "audio" / "bbaf2n.wav", np.stack([x, x]) * 4.3)
    with pytest.raises(MediaError, match=r"bbaf2n\.wav: pcm_f32le samples peak at 3\.87"):
        GRID(tmp_path)[0]


# ---- write_av --------------------------------------------------------------------------------------------------

def test_write_av_checks_even_frame_size_before_encoding(tmp_path, clip):
    odd = clip.video[..., :31, :29]
    for name in ("odd.mp4", "odd.mkv"):
        with pytest.raises(ValueError, match=rf"{name}: h264 \(yuv420p\) needs an even .* got 29x31 .* crop to "
                                             r"28x30, e\.g\. video\[\.\.\., :30, :28\]"):
            write_av(tmp_path / name, odd, clip.audio)
        assert not (tmp_path / name).exists()
    write_av(tmp_path / "odd.mpg", odd, clip.audio)  # MPEG-1 takes odd sizes


def test_write_av_refuses_non_finite_input_and_names_the_file_on_encoder_errors(tmp_path, clip):
    with pytest.raises(ValueError, match=r"nan\.mp4: video has 1 NaN or infinite"):
        write_av(tmp_path / "nan.mp4", _nan_video(clip), clip.audio)
    a = clip.audio.clone()
    a[0] = float("nan")
    with pytest.raises(ValueError, match=r"nan\.wav: audio has 1 NaN"):
        write_av(tmp_path / "nan.wav", None, a)
    with pytest.raises(ValueError, match=r"x\.mp4: fps must be a positive number"):
        write_av(tmp_path / "x.mp4", clip.video, fps=0)
    with pytest.raises(ValueError, match=r"x\.wav: sample_rate must be a positive int"):
        write_av(tmp_path / "x.wav", None, clip.audio, sample_rate=16000.5)
    with pytest.raises(ValueError, match=r"x\.wav: audio must be a mono waveform \[S\], got torch\.Size\(\[2, "):
        write_av(tmp_path / "x.wav", None, torch.stack([clip.audio] * 2))
    with pytest.raises(ValueError, match=r"x\.mp4: nothing to write"):
        write_av(tmp_path / "x.mp4", None, None)
    with pytest.raises(MediaError, match=r"rate\.mpg: encoding failed .*mp2"):  # MP2 has no 7 kHz mode
        write_av(tmp_path / "rate.mpg", None, clip.audio, sample_rate=7000)
    assert not (tmp_path / "rate.mpg").exists()


# ---- loaders: skip_bad and files outside the layout ------------------------------------------------------------

def _lrw(tmp_path, clip, *names):
    for n in names:
        write_av(tmp_path / "ABOUT" / "train" / n, clip.video, clip.audio)
    return tmp_path / "ABOUT" / "train"


def test_skip_bad_skips_without_duplicates(tmp_path, clip):
    d = _lrw(tmp_path, clip, "ABOUT_00001.mp4", "ABOUT_00002.mp4", "ABOUT_00003.mp4", "ABOUT_00004.mp4")
    (d / "ABOUT_00002.mp4").write_bytes(b"garbage" * 100)
    data = (d / "ABOUT_00003.mp4").read_bytes()
    (d / "ABOUT_00003.mp4").write_bytes(data[: len(data) // 3])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = LRW(tmp_path, crop=None, skip_bad=True)
    msgs = [str(x.message) for x in w if "skipping bad file" in str(x.message)]
    assert len(msgs) == 2 and "ABOUT_00002.mp4" in msgs[0] and "ABOUT_00003.mp4" in msgs[1]
    assert ds.skipped == [str(d / "ABOUT_00002.mp4"), str(d / "ABOUT_00003.mp4")]
    sources = [ds[i].source for i in range(len(ds))]
    assert sources == [str(d / "ABOUT_00001.mp4"), str(d / "ABOUT_00004.mp4")]  # each good clip once
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0)
    assert [s.source for s in loader] == sources
    with pytest.warns(UserWarning, match="skipping bad file"):
        two = LRW(tmp_path, crop=None, skip_bad=True, max_items=2)  # max_items counts good clips
    assert [it["video"].name for it in two.items] == ["ABOUT_00001.mp4", "ABOUT_00004.mp4"]
    with pytest.raises(MediaError, match="ABOUT_00002.mp4"):  # without skip_bad the bad file is an error
        LRW(tmp_path, crop=None)[1]


def test_skip_bad_with_every_file_bad(tmp_path, clip):
    d = _lrw(tmp_path, clip, "ABOUT_00001.mp4")
    (d / "ABOUT_00001.mp4").write_bytes(b"garbage" * 100)
    with pytest.warns(UserWarning, match="skipping bad file"):
        with pytest.raises(MediaError, match=r"LRW: all 1 files .* failed to load \(first: .*ABOUT_00001\.mp4\)"):
            LRW(tmp_path, crop=None, skip_bad=True)


def _layout_warnings(make):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = make()
    return ds, [str(x.message) for x in w if "do not match the layout" in str(x.message)]


def test_files_outside_the_layout_are_warned_about_once(tmp_path, clip):
    d = _lrw(tmp_path, clip, "ABOUT_00001.mp4")
    for n in ("about_00002.mp4", "ABOUT_00003.avi", "ABOUT-00004.mp4"):
        (d / n).write_bytes(b"x")
    (tmp_path / "ABOUT" / "ABOUT_00005.mp4").write_bytes(b"x")  # missing the split level
    (d / "ABOUT_00001.txt").write_text("Text: ABOUT\n")  # a companion, not a stray
    ds, msgs = _layout_warnings(lambda: LRW(tmp_path, crop=None))
    assert len(ds) == 1 and len(msgs) == 1
    assert "ignoring 4 media file(s)" in msgs[0] and "<WORD>/train/<WORD>_<nnnnn>.mp4" in msgs[0]
    assert "ABOUT/train/about_00002.mp4" in msgs[0] and "ABOUT/ABOUT_00005.mp4" in msgs[0]
    assert sorted(p.name for p in ds.ignored) == ["ABOUT-00004.mp4", "ABOUT_00003.avi", "ABOUT_00005.mp4",
                                                  "about_00002.mp4"]
    for k in range(6, 12):
        (d / f"extra{k}.mp4").write_bytes(b"x")
    ds, msgs = _layout_warnings(lambda: LRW(tmp_path, crop=None))
    assert len(msgs) == 1 and "ignoring 10 media file(s)" in msgs[0] and "and 5 more" in msgs[0]
    _lrw(tmp_path / "clean", clip, "ABOUT_00001.mp4")
    (tmp_path / "clean" / "ABOUT" / "train" / "ABOUT_00001.txt").write_text("Text: ABOUT\n")
    ds, msgs = _layout_warnings(lambda: LRW(tmp_path / "clean", crop=None))
    assert len(ds) == 1 and msgs == [] and ds.ignored == []


def test_layout_warnings_of_the_other_loaders(tmp_path, clip):
    rav = tmp_path / "rav" / "Actor_01"
    write_av(rav / "01-01-03-02-01-01-01.mp4", clip.video, clip.audio)
    (rav / "03-01-03-02-01-01-01.wav").write_bytes(b"x")  # audio-only release: in the layout, not loaded
    (rav / "01-01-03-02-01-01-01 (copy).mp4").write_bytes(b"x")
    ds, msgs = _layout_warnings(lambda: RAVDESS(tmp_path / "rav"))
    assert len(ds) == 1 and len(msgs) == 1 and "(copy).mp4" in msgs[0] and "03-01" not in msgs[0]

    vox = tmp_path / "vox" / "dev" / "mp4"
    write_av(vox / "id00012" / "21Uxsk56VDQ" / "00001.mp4", clip.video, clip.audio)
    (vox / "id00012" / "00002.mp4").write_bytes(b"x")  # missing the video level
    ds, msgs = _layout_warnings(lambda: VoxCeleb2(tmp_path / "vox"))
    assert len(ds) == 1 and len(msgs) == 1 and "id00012/00002.mp4" in msgs[0]

    grid = tmp_path / "grid" / "s1"
    write_av(grid / "video" / "bbaf2n.mpg", clip.video, None)
    write_av(grid / "audio" / "bbaf2n.wav", None, clip.audio)
    (grid / "audio" / "lonely.wav").write_bytes(b"x")  # audio without its video
    (grid / "video" / "bbaf3n.mp4").write_bytes(b"x")  # GRID videos are .mpg
    ds, msgs = _layout_warnings(lambda: GRID(tmp_path / "grid"))
    assert len(ds) == 1 and len(msgs) == 1 and "lonely.wav" in msgs[0] and "bbaf3n.mp4" in msgs[0]
