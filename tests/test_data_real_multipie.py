"""VividGAN's Multi-PIE pair path on tiny PNG fixtures in Multi-PIE's official layout."""

import numpy as np
import pytest
import torch

from avfh_core.data.real_common import NoDataRoot
from avfh_core.data.real_multipie import (
    CAMERA_YAW,
    MultiPIEPairs,
    split_subjects,
    vividgan_multipie,
)

CAMS = ("05_1", "14_0", "19_0", "11_0", "08_1")
SUBJECTS = ("001", "002", "003")
ILLS = ("00", "07")


def _path(root, sub, ses, rec, cam, ill):
    return (root / "data" / f"session{ses:02d}" / "multiview" / sub / f"{rec:02d}" / cam /
            f"{sub}_{ses:02d}_{rec:02d}_{cam.replace('_', '')}_{ill}.png")


def _png(path, sub, cam, ill):
    from PIL import Image

    arr = np.zeros((8, 12, 3), np.uint8)  # 12x8 (W x H), like Multi-PIE's 640x480 landscape frames
    arr[..., 0] = int(sub) * 40  # the colours encode subject, camera and illumination
    arr[..., 1] = CAMS.index(cam) * 50
    arr[..., 2] = int(ill) * 30
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture(scope="module")
def mpie(tmp_path_factory):
    root = tmp_path_factory.mktemp("mpie")
    for sub in SUBJECTS:
        for rec in (1, 2):
            for cam in CAMS:
                for ill in ILLS:
                    _png(_path(root, sub, 1, rec, cam, ill), sub, cam, ill)
    return root


def _colour(x):
    return tuple(int(round(v)) for v in (x.mean((1, 2)) * 255).tolist())


def test_no_data_root_is_a_clear_skip():
    with pytest.raises(NoDataRoot, match=r"skipped: no data_root; expected layout .*session<SS>/multiview"):
        vividgan_multipie(None)


def test_pairs_share_subject_session_recording_illumination(mpie):
    ds = MultiPIEPairs(mpie, "all", size=4)
    # 3 subjects x 2 recordings x 2 illuminations x 3 yaw cameras (the elevated 08_1 is not in the yaw grid)
    assert len(ds) == 3 * 2 * 2 * 3 and len(ds.ignored_cameras) == 3 * 2 * 2
    yaws = set()
    for i in range(len(ds)):
        it = ds[i]
        assert it["input"].shape == it["frontal"].shape == (3, 4, 4)
        r, g, b = _colour(it["input"])
        fr, fg, fb = _colour(it["frontal"])
        assert (fr, fb) == (r, b) and fg == 0 and g == CAMS.index(it["camera"]) * 50  # same subject and light
        assert r == int(it["subject"]) * 40 and it["illumination"] == it["frontal_illumination"]
        assert it["yaw"] == CAMERA_YAW[it["camera"]] and it["frontal_source"].endswith(
            f"{it['subject']}_01_{it['recording']:02d}_051_{it['illumination']}.png")
        assert it["expression"] == ("neutral" if it["recording"] == 1 else "smile")
        yaws.add(it["yaw"])
    assert yaws == {-15.0, 45.0, -90.0}
    few = MultiPIEPairs(mpie, "all", size=4, yaws=(15,), illuminations=["07"])
    assert len(few) == 3 * 2 and {few[i]["camera"] for i in range(len(few))} == {"14_0"}
    canon = MultiPIEPairs(mpie, "all", size=4, frontal_illumination="07")
    assert all(canon[i]["frontal_illumination"] == "07" for i in range(len(canon)))
    with pytest.raises(ValueError, match=r"yaws \[20\] are not Multi-PIE camera yaws"):
        MultiPIEPairs(mpie, yaws=(20,))


def test_subject_split_and_gallery(mpie):
    tr, te = MultiPIEPairs(mpie, "train", size=4), MultiPIEPairs(mpie, "test", size=4)
    assert tr.subjects == ["001", "002"] and te.subjects == ["003"]
    assert {tr[i]["subject"] for i in range(len(tr))} == {"001", "002"}
    assert split_subjects([f"{k:03d}" for k in range(1, 338)])["test"][0] == "288"  # 50 of 337
    g = te.gallery()
    assert list(g) == ["003"] and g["003"].name == "003_01_01_051_07.png"


def test_bad_input(tmp_path):
    for cam in ("05_1", "14_0"):
        for ill in ILLS:
            _png(_path(tmp_path, "001", 1, 1, cam, ill), "001", cam, ill)
    _path(tmp_path, "001", 1, 1, "05_1", "07").unlink()
    with pytest.raises(ValueError, match=r"001_01_01_140_07.png: missing frontal partner .*05_1/001_01_01_051_07.png"):
        MultiPIEPairs(tmp_path, "all")
    with pytest.warns(UserWarning, match="skipping .*001_01_01_140_07.png"):
        ds = MultiPIEPairs(tmp_path, "all", size=4, skip_bad=True)
    assert len(ds) == 1 and ds.skipped[0].endswith("001_01_01_140_07.png")
    wrong = tmp_path / "data" / "session01" / "multiview" / "001" / "01" / "14_0" / "002_01_01_140_00.png"
    _png(wrong, "002", "14_0", "00")  # the name says subject 002 inside subject 001's folder
    with pytest.warns(UserWarning, match="do not match the layout"), pytest.warns(UserWarning, match="skipping"):
        ds = MultiPIEPairs(tmp_path, "all", size=4, skip_bad=True)
    assert ds.ignored == [wrong]
    with pytest.warns(UserWarning, match="do not match"), pytest.raises(ValueError, match="no frontal neutral image"):
        MultiPIEPairs(tmp_path, "all", size=4, illuminations=["00"]).gallery()  # its light-07 frontal is missing
    with pytest.warns(UserWarning, match="do not match"):
        box = MultiPIEPairs(tmp_path, "all", size=None, illuminations=["00"], crop=lambda img, m: (0, 0, 4, 2))
    assert box[0]["frontal"].shape == (3, 2, 4) and torch.all(box[0]["frontal"][0] == 40 / 255)
    _path(tmp_path, "001", 1, 1, "14_0", "00").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"001_01_01_140_00.png: not a readable image"):
        box[0]
