"""The premise table of world v5 (issue 11): each probe reaches a loose floor on held-out people, and its
coupling-0 control comes out at chance."""

import pytest

from avfh_core.data.stats import Premise, sync_premise
from avfh_core.data.synth import world


def test_premise_record_reached_and_dict():
    p = Premise("ear", "gender from 8x8", 0.9, 0.5, 0.5, 0.85, "accuracy")
    assert p.reached and p.as_dict()["reached"] is True
    assert not Premise("ear", "x", 0.8, 0.5, 0.5, 0.85, "accuracy").reached


def test_sync_premise_detects_sync_and_its_control_is_null():
    p = sync_premise(world(image_size=32, num_frames=29), 10)
    assert p.value > 0.4, p  # the mouth follows F1 on held-out people
    assert abs(p.control) < 0.2, p  # shuffled audio: no relation left
    assert p.value - p.control > 0.3


def test_sync_premise_needs_two_clips():
    with pytest.raises(ValueError, match="n_clips >= 2"):
        sync_premise(world(image_size=32, num_frames=9), 1)
