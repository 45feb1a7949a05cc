"""World v5 (issue 11): poses on demand, many people, a closed-set split, motion and framing knobs, their probes."""

import math

import pytest
import torch

from avfh_core.config import setup
from avfh_core.data import face as facemod
from avfh_core.data import stats
from avfh_core.data.synth import POSE_PRESETS, SynthConfig, SynthWorld, world


def _world(**kw):
    base = dict(image_size=32, num_frames=5, vocab_size=8, seed=0)
    base.update(kw)
    return SynthWorld(SynthConfig(**base))


@pytest.fixture(scope="module")
def w():
    return _world()


def _expected_landmarks(world, i, split, sample):
    """Landmarks of clip i's face (its mouth, blinks, centre and scale) projected at sample.pose."""
    idn = world._plan(i, split)["idn"]
    hm = world.head_motion(i, split)
    ex = sample.extras
    chart = facemod.landmarks_chart(idn, ex["jaw"], ex["spread"], ex["closed"], ex["blink"])
    return facemod.project(facemod.chart_to_surface(chart, idn), facemod.rotation(sample.pose), hm["scale"],
                           hm["centre"])


def test_render_at_gives_the_requested_pose_and_its_landmarks(w):
    clip = w.clip(2, "test")
    same = w.render_at(2, "test", clip.pose)  # the clip's own pose track reproduces the clip exactly
    assert torch.equal(same.video, clip.video) and torch.equal(same.landmarks, clip.landmarks)
    for pose in ((35.0, 5.0, -3.0), (-60.0, 0.0, 0.0)):
        s = w.render_at(2, "test", pose)
        assert torch.equal(s.pose, torch.tensor([pose]).expand(5, 3))
        assert torch.allclose(s.landmarks, _expected_landmarks(w, 2, "test", s), atol=1e-4)
        mid = (s.landmarks[:, 0] + s.landmarks[:, 16]) / 2  # the nose tip turns with the yaw
        assert bool((torch.sign(s.landmarks[:, 30, 0] - mid[:, 0]) == math.copysign(1, pose[0])).all())
        assert not torch.equal(s.video, clip.video)
        assert torch.equal(s.audio, clip.audio) and torch.equal(s.frontal, clip.frontal)
        assert s.speaker == clip.speaker and s.text == clip.text
    track = torch.linspace(-30, 30, 5)[:, None] * torch.tensor([[1.0, 0.0, 0.0]])
    assert torch.equal(w.render_at(2, "test", track).pose, track)


def test_multiview_is_one_frame_of_the_scene_at_several_yaws(w):
    clip = w.clip(1, "train")
    f = 3
    yaw, pitch, roll = (float(v) for v in clip.pose[f])
    views = w.multiview(1, "train", [yaw, -70.0, 0.0, 70.0], frame=f, pitch=pitch, roll=roll)
    assert views.images.shape == (4, 3, 32, 32) and views.poses[:, 0].tolist() == pytest.approx(
        [yaw, -70.0, 0.0, 70.0])
    # the view at the clip's own pose is the clip's frame: same person, expression, light, position (the torso and
    # the hair mass around the head differ: a clip draws them at the head's mean position, a view under the
    # frame's head), so the inner face (brows to chin, landmarks 17-67) must match pixel for pixel
    fx0, fy0 = (int(v) + 1 for v in clip.landmarks[f, 17:68].min(0).values)
    fx1, fy1 = (int(v) for v in clip.landmarks[f, 17:68].max(0).values)
    assert float((views.images[0, :, fy0:fy1, fx0:fx1] - clip.video[f, :, fy0:fy1, fx0:fx1]).abs().max()) <= 1 / 255 + 1e-6
    x0, y0 = (int(v) for v in clip.landmarks[f, 48:68].min(0).values)
    x1, y1 = (int(v) + 1 for v in clip.landmarks[f, 48:68].max(0).values)
    assert float((views.images[0, :, y0:y1, x0:x1] - clip.video[f, :, y0:y1, x0:x1]).abs().max()) <= 1 / 255 + 1e-6
    assert torch.allclose(views.landmarks[0], clip.landmarks[f], atol=1e-4)
    assert float((views.frontal - clip.frontal[f]).abs().max()) <= 1 / 255 + 1e-6
    assert views.speaker == clip.speaker
    # every view shares the background (image corners) and the expression (the mouth's chart is the frame's)
    corners = views.images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert torch.equal(corners, corners[:1].expand_as(corners))
    level = w.multiview(1, "train", [-70.0, 0.0, 70.0], frame=f)  # pitch = roll = 0: yaw leaves heights alone
    opening = level.landmarks[:, 66, 1] - level.landmarks[:, 62, 1]  # the lips' vertical gap
    assert float(opening.min()) > 0.1 and torch.allclose(opening, opening[:1].expand(3), atol=1e-4)
    assert not torch.equal(views.images[1], views.images[3])


def test_gallery_is_frontal_neutral_and_canonical(w):
    n_test = len(w.identities("test"))
    g = w.gallery("test", 1)
    assert g.images.shape == (1, 3, 32, 32) and torch.equal(g.poses, torch.zeros(1, 3))
    assert g.speaker == w.identities("test")[1].id
    lm = g.landmarks[0]
    assert float(stats.mouth_opening(lm)) < 0.05  # mouth closed
    assert float(lm[41, 1] - lm[37, 1]) > 0.5 and float(lm[46, 1] - lm[44, 1]) > 0.5  # eyes open
    mirror = torch.tensor(list(range(16, -1, -1)))  # frontal: the jaw line is mirror-symmetric about the middle
    assert torch.allclose(lm[:17, 0] + lm[mirror, 0], torch.full((17,), 32.0), atol=1e-3)
    assert torch.equal(w.gallery("test", 1).images, g.images)  # deterministic
    other = w.gallery("test", 0)
    corner = (slice(None), slice(None), slice(0, 2), slice(0, 2))
    assert torch.equal(other.images[corner], g.images[corner])  # same canonical background
    assert not torch.equal(other.images, g.images)
    assert torch.equal(w.gallery("closed", 0).images, w.gallery("train", 0).images)
    with pytest.raises(ValueError, match="gallery: person"):
        w.gallery("test", n_test)


def test_closed_split_shows_train_people_in_clips_disjoint_from_train(w):
    train_ids = [p.id for p in w.identities("train")]
    assert [p.id for p in w.identities("closed")] == train_ids
    assert {w.clip(i, "closed").speaker for i in range(3)} <= set(train_ids)
    n = 24
    train_audio = {w.audio(i, "train")[0].numpy().tobytes() for i in range(n)}
    closed_audio = {w.audio(i, "closed")[0].numpy().tobytes() for i in range(n)}
    assert len(closed_audio) == n and not train_audio & closed_audio
    speakers = {w._plan(i, "closed")["idn"].id for i in range(60)}
    assert len(speakers) > len(train_ids) // 2  # the closed split samples the train people, not a few of them
    # the open-set test split keeps its seeds: its clip i did not move when "closed" was added
    assert w.clip(0, "test").source.endswith(":test:0")


def test_five_hundred_people_cost_only_the_people_shown():
    big = _world(n_train_identities=500, n_test_identities=100)
    assert big.texture_cache == 600  # every person fits the default memory budget at this size
    for i in range(3):
        big.clip(i, "train")
    assert len(big._tex) <= 3 and len(big._people) <= 4  # nothing built for people no clip showed
    people = big.identities("train")
    assert len({p.id for p in people}) == 500 and min(p.id for p in big.identities("test")) == 500
    small = _world(n_train_identities=40, n_test_identities=12)
    assert small.identities("train")[7] == people[7]  # a person does not depend on how many others exist
    bounded = SynthWorld(big.config, texture_cache=2)
    for i in range(4):
        bounded.clip(i, "test")
    assert len(bounded._tex) <= 2


def test_presets_choose_the_people():
    for preset, (n_tr, n_te) in (("smoke", (40, 12)), ("course", (100, 50))):
        c = world(setup(preset, device="cpu")).config
        assert (c.n_train_identities, c.n_test_identities) == (n_tr, n_te)
    assert world(setup("course", device="cpu", world_test_people=60)).config.n_test_identities == 60
    assert world(setup("smoke", device="cpu"), n_test_identities=5).config.n_test_identities == 5
    with pytest.raises(ValueError, match="world_test_people=0"):
        setup("smoke", device="cpu", world_test_people=0)


def test_motion_zero_keeps_the_head_still_and_knobs_scale_it():
    still = _world(rotation_motion=0.0, translation_motion=0.0)
    hm = still.head_motion(0, "test")
    assert torch.equal(hm["pose"], hm["pose"][:1].expand(5, 3)) and torch.equal(
        hm["centre"], hm["centre"][:1].expand(5, 2))
    assert torch.equal(still.clip(0, "test").pose, hm["pose"])
    rot_only = _world(translation_motion=0.0)
    assert torch.equal(rot_only.head_motion(0)["centre"], rot_only.head_motion(0)["centre"][:1].expand(5, 2))
    assert not torch.equal(rot_only.pose(0), rot_only.pose(0)[:1].expand(5, 3))
    slow, fast = (stats.interframe_motion_px(_world(motion_speed=s), 6) for s in (1.0, 4.0))
    assert stats.interframe_motion_px(still, 6) == 0.0 and fast > 2 * slow > 0


def test_pose_presets():
    grid = POSE_PRESETS["vividgan_multipie"]["yaws"]
    g = _world(pose_preset="vividgan_multipie", rotation_motion=0.0)
    yaws = {float(g.pose(i)[0, 0]) for i in range(60)}
    assert yaws <= set(grid) and len(yaws) >= 8 and max(abs(y) for y in yaws) == 90.0
    assert torch.equal(_world(pose_preset="frontal", rotation_motion=0.0).pose(3), torch.zeros(5, 3))
    lrw, wide = _world(), _world(pose_preset="wide")
    assert SynthConfig().pose_preset == "lrw"
    assert stats.yaw_fraction(lrw, 60, below=20.0) > 0.8 > stats.yaw_fraction(wide, 60, below=20.0)
    assert torch.equal(lrw.audio(4)[0], wide.audio(4)[0])  # presets change the base pose only


def test_probes_have_their_controls():
    w = _world(image_size=64, num_frames=9)
    (m,) = stats.motion_premises(w, n_clips=4, n_render=1)
    assert m.control == 0.0 and m.value > 0 and "PSNR" in m.detail
    (p,) = stats.pose_premises(w, n_clips=30)
    assert p.value > p.control and 0 <= p.value <= 1
    (mo,) = stats.mouth_premises(w, n_clips=4)
    assert mo.value == pytest.approx(1.25 * mo.control, rel=0.02) and mo.unit == "HR px"
    assert stats.mouth_width_px(_world(image_size=64, num_frames=9, face_scale=1.0), 4) == pytest.approx(mo.control)
    with pytest.raises(ValueError, match="n_clips"):
        stats.yaw_fraction(w, 0)


@pytest.mark.parametrize("field,value", [
    ("pose_preset", "profile"), ("rotation_motion", -1.0), ("translation_motion", float("nan")),
    ("motion_speed", 100.0), ("face_scale", 3.0), ("n_train_identities", 0), ("n_test_identities", 2.5),
    ("max_pitch", 80.0),
])
def test_bad_knobs_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"SynthConfig.{field}="):
        SynthConfig(**{field: value}).validate()


def test_bad_requests_are_refused(w):
    with pytest.raises(ValueError, match="render_at: pose"):
        w.render_at(0, "train", (10.0, 0.0))
    with pytest.raises(ValueError, match=r"render_at: pose.*\|yaw\| must be <= 90"):
        w.render_at(0, "train", (120.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="non-finite"):
        w.render_at(0, "train", (float("nan"), 0.0, 0.0))
    with pytest.raises(ValueError, match="multiview: frame"):
        w.multiview(0, "train", [0.0], frame=5)
    with pytest.raises(ValueError, match="multiview: yaws is empty"):
        w.multiview(0, "train", [])
    with pytest.raises(ValueError, match="texture_cache"):
        SynthWorld(w.config, texture_cache=0)
    with pytest.raises(ValueError, match="split"):
        w.gallery("val", 0)
