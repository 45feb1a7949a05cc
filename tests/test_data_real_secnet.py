"""SECNet's VoxCeleb1 face-track path on tiny fixtures in the <id>/<video>/<nnnnn>.mp4 (+ .txt) layout."""

import pytest
import torch

from avfh_core.data.avio import MediaError, write_av
from avfh_core.data.degrade import blur_subsample
from avfh_core.data.real_common import NoDataRoot
from avfh_core.data.real_secnet import VoxCeleb1Tracks, read_track_box, secnet_voxceleb1, split_persons

T, H, W = 10, 40, 48
BOX = (12, 8, 32, 28)  # the face: a 20x20 square, white on black
KW = dict(resize=24, crop_size=16, scale=4)


def _track(path, rows):
    path.write_text("Identity  : \tid10001\nReference : \tabc\nOffset    : \t1\nFV Conf   : \t16.6\n"
                    "ASD Conf  : \t4.4\n\nFRAME \tX \tY \tW \tH \n" +
                    "".join(f"{k:06d} \t{x} \t{y} \t{w} \t{h} \n" for k, (x, y, w, h) in enumerate(rows, 245)))


def _clip(root, rel, frames=T, txt=True):
    v = torch.zeros(frames, 3, H, W)
    x0, y0, x1, y1 = BOX
    v[:, :, y0:y1, x0:x1] = 1.0
    v[:, 0, y0:y1, x0:x1] = torch.linspace(0.2, 1.0, frames)[:, None, None]  # frames differ
    path = root / f"{rel}.mp4"
    write_av(path, v, None)
    if txt:  # two rows whose union is BOX
        _track(path.with_suffix(".txt"), [(12, 8, 18, 18), (14, 10, 18, 18)])
    return path


@pytest.fixture(scope="module")
def vox1(tmp_path_factory):
    root = tmp_path_factory.mktemp("vox1")
    for rel in ("id10001/ytA/00001", "id10001/ytB/00001", "id10002/ytC/00001", "id10003/ytD/00001"):
        _clip(root, rel)
    return root


def test_no_data_root_is_a_clear_skip():
    with pytest.raises(NoDataRoot, match=r"skipped: no data_root; expected layout .*<id>/<video>/<nnnnn>.mp4"):
        secnet_voxceleb1(None)


def test_track_box_formats(tmp_path):
    p = tmp_path / "00001.txt"
    _track(p, [(12, 8, 18, 18), (14, 10, 18, 18)])
    assert read_track_box(p, W, H) == (12.0, 8.0, 32.0, 28.0)
    _track(p, [(0.25, 0.2, 0.25, 0.5)])  # fractions of the frame (VoxCeleb2-style track files)
    assert read_track_box(p, W, H) == (12.0, 8.0, 24.0, 28.0)
    _track(p, [(12, 8, 0, 18)])
    with pytest.raises(ValueError, match=r"00001.txt:8: expected 'FRAME X Y W H'"):
        read_track_box(p, W, H)
    p.write_text("Identity : id1\n")
    with pytest.raises(ValueError, match="no 'FRAME X Y W H' header"):
        read_track_box(p, W, H)


def test_train_item_is_lr_hr_of_n_frames(vox1):
    ds = VoxCeleb1Tracks(vox1, "train", seq_len=4, persons=["id10001", "id10002"], **KW)
    assert len(ds) == 3 and ds.persons == ["id10001", "id10002"]
    it = ds[0]
    assert it["hr"].shape == (4, 3, 16, 16) and it["lr"].shape == (4, 3, 4, 4)
    assert torch.allclose(it["lr"], blur_subsample(it["hr"], 1.5, 4))  # the paper's degradation of the HR crop
    assert it["box"] == BOX and 1 <= it["stride"] <= 2 and it["person"] == "id10001"
    assert it["hr"][:, 1].mean() > 0.9  # cropped to the track's enclosing box: the face fills the frame
    assert torch.equal(ds[0]["hr"], it["hr"])  # deterministic within an epoch
    draws = set()
    for e in range(12):
        ds.set_epoch(e)
        x = ds[0]
        draws.add((x["start"], x["stride"], x["reversed"], x["flipped"]))
    assert len(draws) > 3  # random start, stride, reversal and flip per epoch
    full = VoxCeleb1Tracks(vox1, "all", seq_len=4, crop=None, **KW)[0]
    assert full["hr"][:, 1].mean() < 0.8 and full["box"] == (4, 0, 44, 40)  # crop=None: the frame's centre square


def test_test_split_is_the_whole_clip_centre_crop(vox1):
    ds = VoxCeleb1Tracks(vox1, "test", seq_len=None, persons=["id10003"], **KW)
    it = ds[0]
    assert it["hr"].shape == (T, 3, 16, 16) and not it["reversed"] and not it["flipped"] and it["start"] == 0
    assert torch.all(it["hr"][1:, 0].mean((1, 2)) > it["hr"][:-1, 0].mean((1, 2)))  # frames in order
    with pytest.raises(ValueError, match="'train' needs seq_len"):
        VoxCeleb1Tracks(vox1, "train", seq_len=None, **KW)


def test_person_split_is_disjoint():
    persons = [f"id{10000 + k}" for k in range(1006)]
    s = split_persons(persons, seed=3)
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (922, 4, 80)
    assert not set(s["train"]) & set(s["test"]) and not set(s["val"]) & set(s["test"])
    small = split_persons(["id1", "id2", "id3"])
    assert sorted(len(v) for v in small.values()) == [1, 1, 1]


def test_bad_input(tmp_path):
    _clip(tmp_path, "id10001/ytA/00001", frames=3)
    good = _clip(tmp_path, "id10001/ytA/00002")
    with pytest.raises(MediaError, match=r"00001.mp4: too short: 3 frames, fewer than seq_len = 8"):
        VoxCeleb1Tracks(tmp_path, "all", **KW)
    with pytest.warns(UserWarning, match="skipping .*00001.mp4"):
        ds = VoxCeleb1Tracks(tmp_path, "all", skip_bad=True, **KW)
    assert len(ds) == 1 and ds.skipped[0].endswith("00001.mp4")
    _track(good.with_suffix(".txt"), [(100, 100, 10, 10)])  # outside the 48x40 frame: refused when building
    with pytest.raises(ValueError, match=r"00002.txt: the track's enclosing box lies outside the 48x40 frame"):
        VoxCeleb1Tracks(tmp_path, "all", seq_len=2, **KW)
    good.with_suffix(".txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"00002.mp4: no track file 00002.txt"):
        VoxCeleb1Tracks(tmp_path, "all", seq_len=2, **KW)
    (tmp_path / "id10001" / "loose.mp4").write_bytes(b"x")
    with pytest.warns(UserWarning, match="do not match the layout"):
        ds = VoxCeleb1Tracks(tmp_path, "all", seq_len=2, crop=None, **KW)
    assert [p.name for p in ds.ignored] == ["loose.mp4"]
    with pytest.warns(UserWarning, match="do not match"), pytest.raises(ValueError, match="persons .*id99.* not found"):
        VoxCeleb1Tracks(tmp_path, "all", persons=["id99"], **KW)
