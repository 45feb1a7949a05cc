"""The ear (Meishvili et al.) VoxCeleb2 path on tiny fixtures in VoxCeleb2's official layout, and its bad input."""

import math

import pytest
import torch

from avfh_core.data.avio import MediaError, read_audio, write_av
from avfh_core.data.real_common import NoDataRoot
from avfh_core.data.real_ear import EarVoxCeleb2, ear_voxceleb2, read_vox2_meta, split_videos

T = 5


def _tone(seconds, f0):
    t = torch.arange(int(seconds * 16000)) / 16000
    return 0.5 * torch.sin(2 * math.pi * (f0 + 40 * t) * t)  # a chirp: every offset sounds different


def _clip(root, split, rel, seconds, f0=300.0, value=0.5):
    video = torch.full((T, 3, 32, 32), value)
    write_av(root / split / "mp4" / f"{rel}.mp4", video, None)
    write_av(root / split / "aac" / f"{rel}.m4a", None, _tone(seconds, f0))


@pytest.fixture(scope="module")
def vox(tmp_path_factory):
    root = tmp_path_factory.mktemp("vox2")
    for spk, vids in {"id00001": ["vidA", "vidB", "vidC"], "id00002": ["vidD", "vidE"]}.items():
        for v in vids:
            _clip(root, "dev", f"{spk}/{v}/00001", 4.2)
    _clip(root, "dev", "id00001/vidA/00002", 1.5, f0=900.0)  # too short for the audio segment
    _clip(root, "test", "id00009/vidT/00001", 4.1)
    (root / "vox2_meta.csv").write_text("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \nid00001 ,n000001 ,f ,dev \n"
                                        "id00002 ,n000002 ,m ,dev \nid00009 ,n000009 ,m ,test \n")
    return root


def test_no_data_root_is_a_clear_skip():
    with pytest.raises(NoDataRoot, match=r"skipped: no data_root; expected layout .*<dev\|test>/mp4/<id>"):
        ear_voxceleb2(None)


def test_item_is_a_frame_and_4s_from_the_same_video(vox):
    ds = EarVoxCeleb2(vox, "train", frame_size=16, closed_test_fraction=0.0, items_per_video=4)
    assert len(ds) == 5 * 4 and ds.speakers == ["id00001", "id00002"]
    for i in range(len(ds)):
        it = ds[i]
        assert it["frame"].shape == (3, 16, 16) and it["audio"].shape == (64000,) and it["sample_rate"] == 16000
        assert it["frame_source"].split("/")[-3:-1] == it["audio_source"].split("/")[-3:-1]  # same <id>/<video>
        assert not it["audio_source"].endswith("00002.m4a")  # the 1.5 s clip never gives the 4 s segment
        assert it["label"] == ds.speakers.index(it["speaker"]) and it["audio_padded"] == 0
        src, _ = read_audio(it["audio_source"])
        assert torch.equal(it["audio"], src[it["audio_offset"]: it["audio_offset"] + 64000])
    assert ds[3]["gender"] == "f" and ds[19]["gender"] == "m"
    a, b = ds[7], ds[7]
    assert torch.equal(a["frame"], b["frame"]) and a["audio_offset"] == b["audio_offset"]  # deterministic
    assert len({ds[i]["audio_offset"] for i in range(len(ds))}) > 1  # offsets are drawn


def test_closed_and_open_splits(vox):
    tr = EarVoxCeleb2(vox, "train", frame_size=8, closed_test_fraction=0.5)
    te = EarVoxCeleb2(vox, "closed_test", frame_size=8, closed_test_fraction=0.5)
    op = EarVoxCeleb2(vox, "open_test", frame_size=8)
    pre = EarVoxCeleb2(vox, "pretrain", frame_size=8, closed_test_fraction=0.5)
    vids = lambda d: {(v["speaker"], v["video"]) for v in d.videos}  # noqa: E731
    assert not vids(tr) & vids(te) and len(vids(tr) | vids(te)) == 5  # videos held out, none lost
    assert {s for s, _ in vids(tr)} == {s for s, _ in vids(te)} == {"id00001", "id00002"}  # closed set
    assert tr.speakers == te.speakers  # one label space for the closed-set classifier
    assert op.speakers == ["id00009"] and not set(op.speakers) & set(tr.speakers)  # open set: unseen identities
    assert vids(pre) < vids(tr) or vids(pre) == vids(tr)
    assert {s for s, _ in vids(pre)} == {s for s, _ in vids(tr)}  # D_pre: same speakers, fewer videos
    few = EarVoxCeleb2(vox, "train", frame_size=8, min_videos_per_speaker=3)
    assert few.speakers == ["id00001"] and few.dropped_speakers == ["id00002"]
    train, test = split_videos({"a": ["v1"], "b": ["v1", "v2", "v3", "v4"]}, 0.5, seed=0)
    assert test["a"] == [] and train["a"] == ["v1"] and len(test["b"]) == 2


def test_short_video_rule(tmp_path):
    _clip(tmp_path, "dev", "id00003/vidS/00001", 1.0)
    _clip(tmp_path, "dev", "id00003/vidL/00001", 4.05)
    with pytest.raises(MediaError, match=r"id00003/vidS has no clip of at least 4 s \(00001.m4a 1.00 s\)"):
        EarVoxCeleb2(tmp_path, frame_size=8, closed_test_fraction=0.0)
    with pytest.warns(UserWarning, match="skipping video id00003/vidS"):
        ds = EarVoxCeleb2(tmp_path, frame_size=8, closed_test_fraction=0.0, skip_bad=True)
    assert [v["video"] for v in ds.videos] == ["vidL"] and ds.skipped == ["video id00003/vidS"]
    ds = EarVoxCeleb2(tmp_path, frame_size=8, closed_test_fraction=0.0, short_audio="pad")
    it = ds[[v["video"] for v in ds.videos].index("vidS")]
    assert it["audio"].shape == (64000,) and it["audio_padded"] == 64000 - 16000
    assert it["audio"][-it["audio_padded"]:].abs().max() == 0


def test_bad_input_names_the_file(tmp_path):
    _clip(tmp_path, "dev", "id00004/vidX/00001", 4.2)
    m4a = tmp_path / "dev" / "aac" / "id00004" / "vidX" / "00001.m4a"
    m4a.write_bytes(b"not audio" * 40)
    with pytest.raises(MediaError, match="00001.m4a: not a readable media file"):
        EarVoxCeleb2(tmp_path, frame_size=8)
    (tmp_path / "dev" / "mp4" / "id00004" / "stray.mp4").write_bytes(b"x")
    with pytest.warns(UserWarning, match="do not match the layout"), pytest.warns(UserWarning, match="skipping video"), \
            pytest.raises(ValueError, match="no usable video"):
        EarVoxCeleb2(tmp_path, frame_size=8, skip_bad=True)
    with pytest.raises(ValueError, match="split must be one of"):
        EarVoxCeleb2(tmp_path, "dev")
    bad = tmp_path / "meta.csv"
    bad.write_text("id00001 ,n1 ,x ,dev\n")
    with pytest.raises(ValueError, match=r"meta.csv:1: expected"):
        read_vox2_meta(bad)
