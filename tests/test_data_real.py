"""Real-dataset loaders on tiny fixtures written with PyAV in each official layout, and every bad input."""

import pytest
import torch

from avfh_core.data import SynthConfig, SynthWorld
from avfh_core.data.avio import MediaError, probe, read_audio, read_video, write_av
from avfh_core.data.real import GRID, LRS2, LRW, RAVDESS, VoxCeleb2, open_dataset, parse_ravdess_name

T = 6


@pytest.fixture(scope="module")
def clip():
    return SynthWorld(SynthConfig(image_size=32, num_frames=T, vocab_size=4, render_frontal=False)).clip(0)


def _resample(audio, sr):
    return torch.nn.functional.interpolate(audio[None, None], size=int(len(audio) * sr / 16000), mode="linear")[0, 0]


def test_roundtrip_mp4_mpg_m4a_wav(tmp_path, clip):
    for name in ("a.mp4", "a.mpg"):
        write_av(tmp_path / name, clip.video, clip.audio)
        v, fps = read_video(tmp_path / name)
        a, sr = read_audio(tmp_path / name)
        assert v.shape == clip.video.shape and fps == 25.0 and sr == 16000
        assert (v - clip.video).abs().mean() < 0.06  # lossy codecs
        assert abs(a.shape[0] - clip.audio.shape[0]) <= 1152  # MP2/AAC framing, trimmed to the stream duration
    for name in ("a.m4a", "a.wav"):
        write_av(tmp_path / name, None, clip.audio)
        a, sr = read_audio(tmp_path / name)
        assert a.shape == clip.audio.shape  # padded AAC frames are trimmed
        n = min(len(a), len(clip.audio))
        c = torch.corrcoef(torch.stack([a[:n], clip.audio[:n]]))[0, 1]
        assert c > 0.95
    assert probe(tmp_path / "a.mp4")["video"]["frames"] == T


def test_lrw(tmp_path, clip):
    for w in ("ABOUT", "MONEY"):
        for k in (1, 2):
            write_av(tmp_path / w / "train" / f"{w}_{k:05d}.mp4", clip.video, clip.audio)
            (tmp_path / w / "train" / f"{w}_{k:05d}.txt").write_text(f"Text: {w}\nConference: 1\nDuration: 0.24 seconds\n")
    ds = LRW(tmp_path, "train", crop=None)
    assert len(ds) == 4 and ds.vocabulary == ["ABOUT", "MONEY"]
    s = ds[3]
    assert s.text == "MONEY" and s.extras["word_index"] == 1 and s.extras["word_duration"] == 0.24
    assert s.video.shape == (T, 3, 32, 32) and s.audio.shape == (T * 640,) and s.sample_rate == 16000
    with pytest.raises(ValueError, match="no clips found"):
        LRW(tmp_path, "val")
    with pytest.raises(ValueError, match="crop box"):
        LRW(tmp_path, "train")[0]  # the fixed 96x96 mouth box needs 256x256 frames
    big = torch.nn.functional.interpolate(clip.video, size=(256, 256), mode="bilinear")
    write_av(tmp_path / "big" / "BIG" / "test" / "BIG_00001.mp4", big, clip.audio)
    s = open_dataset("lrw", tmp_path / "big", "test", size=88)[0]
    assert s.video.shape == (T, 3, 88, 88)


def test_lrs2(tmp_path, clip):
    write_av(tmp_path / "main" / "6330311066473698535" / "00011.mp4", clip.video, clip.audio)
    (tmp_path / "main" / "6330311066473698535" / "00011.txt").write_text(
        "Text:  SO WE HAVE\nConf:  4\n\nWORD START END ASDSCORE\nSO 0.02 0.08 2.1\nWE 0.08 0.15 3.0\n")
    (tmp_path / "test.txt").write_text("6330311066473698535/00011 NF\n")
    s = LRS2(tmp_path, "test")[0]
    assert s.text == "SO WE HAVE" and s.extras["words"][1] == ("WE", 0.08, 0.15)
    assert s.speaker == "6330311066473698535" and len(LRS2(tmp_path)) == 1


def test_grid(tmp_path, clip):
    d = tmp_path / "s1"
    write_av(d / "video" / "bbaf2n.mpg", clip.video, clip.audio)
    write_av(d / "audio" / "bbaf2n.wav", None, _resample(clip.audio, 25000), sample_rate=25000)
    (d / "align").mkdir()
    (d / "align" / "bbaf2n.align").write_text("0 5000 sil\n5000 9000 bin\n9000 14000 blue\n14000 15000 sil\n")
    ds = GRID(tmp_path)
    s = ds[0]
    assert s.text == "bin blue" and s.extras["words"][0] == ("bin", 0.2, 0.36) and s.speaker == "s1"
    assert s.sample_rate == 16000 and s.audio.shape == (T * 640,)
    with pytest.raises(MediaError, match="unexpected audio sample rate 25000"):
        GRID(tmp_path, resample=False)[0]
    with pytest.raises(ValueError, match="no clips found"):
        GRID(tmp_path, speakers=["s9"])


def test_voxceleb2(tmp_path, clip):
    rel = "id00012/21Uxsk56VDQ/00001"
    write_av(tmp_path / "dev" / "mp4" / f"{rel}.mp4", clip.video, None)
    write_av(tmp_path / "dev" / "aac" / f"{rel}.m4a", None, clip.audio)
    s = VoxCeleb2(tmp_path, "dev")[0]
    assert s.speaker == "id00012" and s.extras["youtube_id"] == "21Uxsk56VDQ"
    assert s.audio.shape == (T * 640,) and s.video.shape[0] == T


def test_ravdess(tmp_path, clip):
    d = tmp_path / "Actor_12"
    write_av(d / "01-01-03-02-01-01-12.mp4", clip.video, _resample(clip.audio, 48000), fps=30000 / 1001,
             sample_rate=48000)
    write_av(d / "02-01-03-02-01-01-12.mp4", clip.video, None, fps=30000 / 1001)  # video-only: not loaded
    ds = RAVDESS(tmp_path)
    assert len(ds) == 1
    s = ds[0]
    assert s.attributes == {"gender": "f", "emotion": "happy", "intensity": "strong"}
    assert s.fps == 25.0 and s.text == "KIDS ARE TALKING BY THE DOOR"
    assert s.audio.shape[0] == round(s.num_frames / 25 * 16000)
    assert parse_ravdess_name("03-01-06-01-02-01-11.wav")["gender"] == "m"
    with pytest.raises(ValueError, match="RAVDESS file name"):
        parse_ravdess_name("clip.mp4")


# ---- bad input -------------------------------------------------------------------------------------------------

def _lrw_with(tmp_path, clip, name="ABOUT_00001.mp4", **kw):
    path = tmp_path / "ABOUT" / "train" / name
    write_av(path, kw.pop("video", clip.video), kw.pop("audio", clip.audio), **kw)
    return path


def test_missing_dir_and_unknown_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LRW(tmp_path / "nope")
    with pytest.raises(ValueError, match="unknown dataset"):
        open_dataset("imagenet", tmp_path)


def test_corrupt_and_truncated_video(tmp_path, clip):
    path = _lrw_with(tmp_path, clip)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match="ABOUT_00001.mp4"):
        LRW(tmp_path, crop=None)[0]
    path.write_bytes(b"\x00not a video at all" * 50)
    with pytest.raises(MediaError, match="ABOUT_00001.mp4"):
        LRW(tmp_path, crop=None)[0]


def test_no_audio_track(tmp_path, clip):
    _lrw_with(tmp_path, clip, audio=None)
    with pytest.raises(MediaError, match="no audio stream"):
        LRW(tmp_path, crop=None)[0]


def test_unexpected_sample_rate(tmp_path, clip):
    _lrw_with(tmp_path, clip, audio=_resample(clip.audio, 44100), sample_rate=44100)
    with pytest.raises(MediaError, match="unexpected audio sample rate 44100"):
        LRW(tmp_path, crop=None, resample=False)[0]
    assert LRW(tmp_path, crop=None)[0].sample_rate == 16000


def test_mismatched_lengths(tmp_path, clip):
    _lrw_with(tmp_path, clip, audio=torch.cat([clip.audio, clip.audio]))
    with pytest.raises(MediaError, match="mismatched lengths"):
        LRW(tmp_path, crop=None)[0]


def test_skip_bad_counts_and_warns(tmp_path, clip):
    bad = _lrw_with(tmp_path, clip, name="ABOUT_00001.mp4")
    _lrw_with(tmp_path, clip, name="ABOUT_00002.mp4")
    bad.write_bytes(b"garbage" * 100)
    with pytest.warns(UserWarning, match="skipping bad file"):  # files are checked when the dataset is built
        ds = LRW(tmp_path, crop=None, skip_bad=True)
    s = ds[0]
    assert s.source.endswith("ABOUT_00002.mp4") and ds.skipped == [str(bad)] and len(ds) == 1


def test_error_in_dataloader_worker_names_the_file(tmp_path, clip):
    bad = _lrw_with(tmp_path, clip)
    bad.write_bytes(b"garbage" * 100)
    loader = torch.utils.data.DataLoader(LRW(tmp_path, crop=None), batch_size=None, num_workers=1)
    with pytest.raises(MediaError, match="ABOUT_00001.mp4: not a readable media file"):
        next(iter(loader))


def test_detector_path_needs_the_extra(tmp_path, clip):
    _lrw_with(tmp_path, clip)
    try:
        import dlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="landmarks"):
            LRW(tmp_path, crop=None, landmarks="detector")[0]
    with pytest.raises(ValueError, match="landmarks must be"):
        LRW(tmp_path, crop=None, landmarks="mediapipe")
