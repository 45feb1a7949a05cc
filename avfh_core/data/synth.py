"""The embedded synthetic audio-visual world: talking faces whose speech drives the mouth.

No dataset of the papers can be downloaded here, so every notebook trains on this world by default. It provides what
the papers' mechanisms need and what real datasets cannot give: identities with attributes and a held-out split
(Meishvili et al. Sec. 4 closed/open set), iBUG-68 landmarks and head poses with the frontal ground truth of each
frame (VividGAN's frontalization), speech whose phoneme timeline moves the lips (VFH-GAN's lip-reading loss,
Eskimez et al.'s talking faces), smooth head motion (SECNet's multi-frame SR), and causal knobs:

- `voice_coupling` in [0, 1]: how strongly the voice carries gender/age/identity (0: a random voice per clip);
- `voice_age_coupling` in [0, 1]: how strongly the voice ages with the person (0: an unrelated per-person age);
- `room_noise_dbfs`: the room tone under all speech (a level in dB RMS re full scale, or None: digital silence);
- `av_offset_frames`: shifts audio against video (breaks sync, keeps identity);
- `shuffle_audio`: audio of another clip (breaks sync and identity).

World v5 adds poses, motion and people on demand (issue 11):
- `pose_preset` picks the clips' head-pose distribution (POSE_PRESETS: "lrw" near-frontal by default, "wide" as in
  v4, "frontal", VividGAN's yaw grids); `render_at(i, split, pose)` renders a clip at a requested pose,
  `multiview(i, split, yaws)` one frame at several yaws, `gallery(split, person)` a person's frontal, neutral,
  canonically lit image;
- `rotation_motion`, `translation_motion` and `motion_speed` set the within-clip head motion (0: a still head),
  `face_scale` the head's size in the frame;
- `n_train_identities` / `n_test_identities` scale to thousands of people (each sampled on first use, textures
  cached up to a memory budget); splits "train" (train people), "test" (open set: other people) and "closed"
  (closed set: new clips of the train people).

`mouth_motion` (added after v5, in the cache key only when set) scales the articulation: 0 renders the same clip
with a still mouth at rest, the speech unchanged (VFH-GAN's audio control takes its LR frames from there).

Clip i of a configuration is a pure function of (config, split, i): generated on demand, and cached on disk in
shards by `SynthWorld.dataset` (see `avfh_core.data.cache`). Video is quantised to 8 bits and audio to 16 bits, as
real recordings are, so a cached clip equals a freshly generated one exactly.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np
import torch

from avfh_core.data import face as facemod
from avfh_core.data import speech as sp
from avfh_core.data.sample import AVSample

GENERATOR_VERSION = 5  # bump when the rendering or speech changes: it is part of the cache key
FPS = 25.0
SAMPLE_RATE = sp.SAMPLE_RATE
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)  # 640
SPLITS = ("train", "test", "closed")  # an index into SPLITS seeds a split's clips: append, never reorder

# Head-pose distributions of the clips' base pose (the smooth within-clip motion is added on top), by name
# (`SynthConfig.pose_preset`). Each draws from the same three uniforms of the clip's pose stream, so clip i of two
# presets differs only in its base pose (its text, voice, light, background and motion are the same).
# - "lrw": near-frontal talking heads like LRW/LRS (VFH-GAN's data): a normal base pose, sd 10 / 5 / 3 degrees
#   (yaw / pitch / roll), clamped to +-max_yaw/max_pitch/max_roll; |yaw| < 20 deg in about 95 % of clips. Default.
# - "wide": the v4 world: yaw = max_yaw u|u| (frontal-heavy, up to +-max_yaw), pitch, roll uniform in +-max_*.
# - "frontal": base pose 0 (GRID-like frontal speakers; with rotation_motion=0 every frame is exactly frontal).
# - "vividgan_multipie" / "vividgan_celeba": the base yaw is one of VividGAN's test yaws (Multi-PIE: +-15 ... +-90,
#   CelebA/MMI: +-22, +-40, +-55, +-75), pitch and roll 0; with rotation_motion=0 every frame sits on the grid.
POSE_PRESETS: dict[str, dict] = {
    "lrw": dict(kind="normal", sd=(10.0, 5.0, 3.0)),
    "wide": dict(kind="wide"),
    "frontal": dict(kind="fixed"),
    "vividgan_multipie": dict(kind="grid", yaws=(-90.0, -75.0, -60.0, -45.0, -30.0, -15.0,
                                                 15.0, 30.0, 45.0, 60.0, 75.0, 90.0)),
    "vividgan_celeba": dict(kind="grid", yaws=(-75.0, -55.0, -40.0, -22.0, 22.0, 40.0, 55.0, 75.0)),
}
ROTATION_AMPLITUDE = (4.0, 2.5, 2.0)  # degrees of yaw, pitch, roll wobble at rotation_motion = 1
TRANSLATION_AMPLITUDE = 0.015  # fraction of the image side of the sway at translation_motion = 1
CANONICAL_LIGHT = (0.0, -0.35, 1.0)  # the frontal ground truth's and the gallery's light (normalised)
TEXTURE_CACHE_BYTES = 512 * 2**20  # default memory budget of a world's identity-texture cache


_UNSET = object()
_KEYED_WHEN_SET: dict[str, object] = {"mouth_motion": 1.0}  # knobs added after v5 -> their defaults


@dataclass(frozen=True)
class SynthConfig:
    """Configuration of a synthetic world. Every field is part of the cache key (a field added after v5 only when it
    is set away from its default: `as_dict`)."""

    image_size: int = 64
    num_frames: int = 29
    vocab_size: int = 20
    seed: int = 0
    voice_coupling: float = 1.0
    av_offset_frames: int = 0
    shuffle_audio: bool = False
    # --- voice knobs (world v5) ---
    # how strongly the voice's age-dependent parameters (F0 curve, formant lowering, speaking rate, jitter, shimmer,
    # breathiness, tilt, tremor) follow the person's age: 1 = their own age, 0 = a per-person age drawn independently
    # of the person (the control: age is not recoverable from the voice, identity and gender still are); between,
    # the linear blend of the two ages
    voice_age_coupling: float = 1.0
    # level of the room tone added to every clip's speech, in dB RMS re full scale (-50: a quiet room, about 25 dB
    # below active speech, which sits near -25 dBFS; speech.room_noise: ~-5 dB/octave above 120 Hz); None = no room
    # tone (digital silence between words, the pre-v5 "clean" ablation)
    room_noise_dbfs: float | None = -50.0
    max_yaw: float = 75.0
    max_pitch: float = 15.0
    max_roll: float = 10.0
    # --- pose, motion and people knobs (world v5) ---
    pose_preset: str = "lrw"  # base-pose distribution, a key of POSE_PRESETS (max_* bound "lrw" and "wide")
    # Within-clip motion; 1 = the v4 world's (0.04 LR px between neighbouring frames at x4, 46 dB: too still for
    # multi-frame SR). The defaults give about 0.28 LR px (1.1 px at 64 px), a talking head's nods and sway.
    rotation_motion: float = 2.0  # head rotation wobble (1 = +-4 / 2.5 / 2 deg yaw / pitch / roll)
    translation_motion: float = 3.0  # sway of the head in the image (1 = +-1.5 % of the side)
    motion_speed: float = 3.0  # frequency factor of both (1 = 0.2-0.8 Hz): faster motion, same excursion
    face_scale: float = 1.25  # head size in the frame (1 = the v4 framing: head height 0.72 of the side)
    utterance: str = "word"  # "word": LRW-like single words; "sentence": GRID-like 6-word commands
    n_train_identities: int = 40
    n_test_identities: int = 12
    render_frontal: bool = True
    blink_rate: float = 0.3  # blinks per second
    # --- face knobs (world v5) ---
    # how strongly the face's gender cues (hair silhouette, jaw, brow ridge, face width, beard shadow, lips, skin)
    # and age cues (wrinkles, spots, jowls, thin lips, grey hair) follow the person's gender / age (face.sample_identity);
    # 0 = the control: every cue drawn independently of gender / age (the true labels are still reported)
    face_gender_coupling: float = 1.0
    face_age_coupling: float = 1.0
    # --- articulation knob (added after v5; in the cache key only when set, so every v5 cache stays valid) ---
    # how far the mouth moves from rest: each mouth track (jaw opening, lip spread, lip closure) becomes
    # mouth_motion * track (rest is 0 for all three), clamped to its range; 0 = a still mouth at rest (lips together,
    # relaxed) while the speech, head, eyes and light are unchanged. VFH-GAN's audio control renders its LR frames
    # with 0: the LR shows what the mouth looks like, never how it moves, so only the speech can tell that.
    mouth_motion: float = 1.0

    def validate(self) -> SynthConfig:
        def bad(name, why):
            raise ValueError(f"SynthConfig.{name}={getattr(self, name)!r}: {why}")

        if not isinstance(self.image_size, int) or self.image_size < 16:
            bad("image_size", "must be an int >= 16")
        if not isinstance(self.num_frames, int) or self.num_frames < 1:
            bad("num_frames", "must be a positive int")
        if not 1 <= self.vocab_size <= len(sp.VOCABULARY):
            bad("vocab_size", f"must be in [1, {len(sp.VOCABULARY)}]")
        if not 0.0 <= self.voice_coupling <= 1.0:
            bad("voice_coupling", "must be in [0, 1]")
        if not (isinstance(self.voice_age_coupling, int | float) and 0.0 <= self.voice_age_coupling <= 1.0):
            bad("voice_age_coupling", "must be a number in [0, 1]")
        if self.room_noise_dbfs is not None and not (
                isinstance(self.room_noise_dbfs, int | float) and -100.0 <= self.room_noise_dbfs <= -10.0):
            bad("room_noise_dbfs", "must be None (no room tone) or a level in [-100, -10] dB RMS re full scale")
        if not isinstance(self.av_offset_frames, int):
            bad("av_offset_frames", "must be an int (frames)")
        if not 0.0 <= self.max_yaw <= 90.0:
            bad("max_yaw", "must be in [0, 90] degrees")
        if not 0.0 <= self.max_pitch <= 45.0:
            bad("max_pitch", "must be in [0, 45] degrees")
        if not 0.0 <= self.max_roll <= 45.0:
            bad("max_roll", "must be in [0, 45] degrees")
        if self.pose_preset not in POSE_PRESETS:
            bad("pose_preset", f"must be one of {sorted(POSE_PRESETS)}")
        for name, hi in (("rotation_motion", 10.0), ("translation_motion", 20.0), ("motion_speed", 20.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= hi:
                bad(name, f"must be a number in [0, {hi:g}]")
        if isinstance(self.face_scale, bool) or not isinstance(self.face_scale, int | float) or not (
                0.5 <= self.face_scale <= 2.0):
            bad("face_scale", "must be a number in [0.5, 2]")
        if self.utterance not in ("word", "sentence"):
            bad("utterance", "must be 'word' or 'sentence'")
        for name in ("n_train_identities", "n_test_identities"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 1 <= v <= 100_000:
                bad(name, "must be an int in [1, 100000]")
        if self.seed < 0:
            bad("seed", "must be >= 0")
        for name in ("face_gender_coupling", "face_age_coupling"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                bad(name, "must be a number in [0, 1]")
        if isinstance(self.mouth_motion, bool) or not isinstance(self.mouth_motion, int | float) or not (
                0.0 <= self.mouth_motion <= 4.0):
            bad("mouth_motion", "must be a number in [0, 4] (1: the speech's own articulation, 0: a still mouth)")
        return self

    def as_dict(self) -> dict:
        """The fields, without those added after world v5 that are at their defaults (`_KEYED_WHEN_SET`): the dict
        is the cache key's content, and a knob added later must not re-key the worlds that do not set it."""
        return {k: v for k, v in asdict(self).items() if _KEYED_WHEN_SET.get(k, _UNSET) != v}


class SynthWorld:
    """A deterministic world of talking faces. `clip(i, split)` -> AVSample; `dataset(split, n)` -> cached Dataset.

    >>> world = SynthWorld(SynthConfig(image_size=64, num_frames=29, vocab_size=20, seed=0))
    >>> s = world.clip(0, split="train")
    >>> s.video.shape, s.audio.shape, s.landmarks.shape
    (torch.Size([29, 3, 64, 64]), torch.Size([18560]), torch.Size([29, 68, 2]))
    """

    def __init__(self, config: SynthConfig | None = None, texture_cache: int | None = None, **kwargs):
        if config is None:
            config = SynthConfig(**kwargs)
        elif kwargs:
            raise ValueError("pass either a SynthConfig or keyword fields, not both")
        self.config = config.validate()
        c = self.config
        self._people: dict[int, facemod.Identity] = {}
        self._ids: dict[str, list[facemod.Identity]] = {}
        self._tex: OrderedDict[int, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        # The texture cache holds every person of the world when that fits the memory budget (each texture is then
        # built once per process, so a clip costs the same for 50 or 5000 people once they have all been seen);
        # otherwise the most recently used ones. An entry is 48 S^2 bytes (albedo + normals, float32, S x 2S):
        # 0.19 MiB at S = 64, 0.75 MiB at S = 128.
        if texture_cache is None:
            texture_cache = max(8, min(c.n_train_identities + c.n_test_identities,
                                       TEXTURE_CACHE_BYTES // self.texture_bytes))
        if isinstance(texture_cache, bool) or not isinstance(texture_cache, int) or texture_cache < 1:
            raise ValueError(f"SynthWorld: texture_cache={texture_cache!r} must be a positive int (identities)")
        self.texture_cache = texture_cache
        from avfh_core.data.cache import config_key

        self.key = config_key(self.config.as_dict(), GENERATOR_VERSION)

    @property
    def texture_bytes(self) -> int:
        """Memory of one cached identity texture (albedo + normals, float32)."""
        s = max(64, self.config.image_size)
        return 6 * s * 2 * s * 4

    # --- identities -------------------------------------------------------------------------------------------
    def _person(self, k: int) -> facemod.Identity:
        """Person k of the world (0 .. n_train-1: train people, then the test people), sampled on first use from
        its own random stream, so a world of 5000 people costs nothing until a clip shows them."""
        if k not in self._people:
            rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 1001, int(k)]))
            c = self.config
            self._people[k] = facemod.sample_identity(int(k), rng, gender_coupling=c.face_gender_coupling,
                                                      age_coupling=c.face_age_coupling)
        return self._people[k]

    def _split_people(self, split: str) -> tuple[int, int]:
        """(first person index, count) of the people a split shows: "closed" shows the train people."""
        c = self.config
        if split == "test":
            return c.n_train_identities, c.n_test_identities
        return 0, c.n_train_identities

    def identities(self, split: str = "train") -> list[facemod.Identity]:
        """The people of a split: "train" and "closed" (closed-set test clips) show the train people, "test" shows
        people who never appear in train (open set)."""
        _check_split(split)
        if split not in self._ids:
            k0, n = self._split_people(split)
            self._ids[split] = [self._person(k0 + k) for k in range(n)]
        return self._ids[split]

    def _texture(self, idn: facemod.Identity):
        tex = self._tex.get(idn.id)
        if tex is None:
            while len(self._tex) >= self.texture_cache:
                self._tex.popitem(last=False)
            tex = self._tex[idn.id] = facemod.identity_texture(idn, max(64, self.config.image_size))
        else:
            self._tex.move_to_end(idn.id)
        return tex

    # --- one clip ---------------------------------------------------------------------------------------------
    def _plan(self, i: int, split: str) -> dict:
        """Everything random about clip i except rendering noise: identity, text, voice."""
        c = self.config
        ss = np.random.SeedSequence([c.seed, SPLITS.index(split), int(i)])
        r_id, r_voice, r_speech, r_pose, r_misc = (np.random.default_rng(s) for s in ss.spawn(5))
        k0, n = self._split_people(split)
        idn = self._person(k0 + int(r_id.integers(n)))
        if c.utterance == "word":
            word_index = int(r_id.integers(c.vocab_size))
            text = sp.VOCABULARY[word_index]
        else:
            word_index = -1
            text = " ".join(str(r_id.choice(list(g))) for g in sp.GRID_WORDS.values())
        u = np.asarray(idn.voice_u)
        unrelated_age = 18.0 + 57.0 * float(u[8])  # the person's voice age when voice_age_coupling = 0
        voice_age = c.voice_age_coupling * idn.age + (1.0 - c.voice_age_coupling) * unrelated_age
        own = sp.voice_from_attributes(idn.gender, voice_age, u)
        other = sp.voice_from_attributes("m" if r_voice.random() < 0.5 else "f", float(r_voice.uniform(18, 75)),
                                         r_voice.random(sp.VOICE_UNIFORMS))
        voice = sp.blend_voices(own, other, c.voice_coupling)
        return dict(idn=idn, word_index=word_index, text=text, voice=voice, r_speech=r_speech, r_pose=r_pose,
                    r_misc=r_misc, own_voice=own)

    def _speech(self, plan: dict, pad_frames: int) -> sp.Utterance:
        """Synthesize the utterance over num_frames + 2 * pad_frames frames (the clip is the centre)."""
        c = self.config
        min_frames = 29 if c.utterance == "word" else 75
        L = max(c.num_frames, min_frames) + 2 * pad_frames
        jitter = float(plan["r_speech"].uniform(-0.04, 0.04))
        return sp.synthesize(plan["text"], plan["voice"], L * SAMPLES_PER_FRAME, plan["r_speech"],
                             centre=L * SAMPLES_PER_FRAME / SAMPLE_RATE / 2 + jitter, room_noise_dbfs=c.room_noise_dbfs)

    def audio(self, i: int, split: str = "train") -> tuple[torch.Tensor, dict]:
        """Only the audio of clip i (fast: no rendering) and its per-frame tracks; respects offset and shuffle."""
        _check_split(split)
        return self._audio_and_tracks(i, split)[:2]

    def _audio_and_tracks(self, i: int, split: str):
        c = self.config
        plan = self._plan(i, split)
        pad = abs(c.av_offset_frames)
        utt = self._speech(plan, pad)
        L = len(utt.audio) // SAMPLES_PER_FRAME
        f0 = (L - c.num_frames) // 2  # first frame of the clip inside the utterance
        tracks = {k: sp.per_frame(v, L)[f0: f0 + c.num_frames] for k, v in utt.tracks.items()}
        src = utt
        if c.shuffle_audio:
            j = int(np.random.SeedSequence([c.seed, SPLITS.index(split), int(i), 99]).generate_state(1)[0] % 10**6)
            j = j + 1 if j == i else j
            src = self._speech(self._plan(j, split), pad)
        a0 = (f0 - c.av_offset_frames) * SAMPLES_PER_FRAME  # positive offset: audio lags the video
        audio = src.audio[a0: a0 + c.num_frames * SAMPLES_PER_FRAME]
        audio = np.round(np.clip(audio, -1, 1) * 32767) / 32767  # 16-bit
        t_shift = f0 * SAMPLES_PER_FRAME / SAMPLE_RATE
        meta = dict(phones=[(p, a - t_shift, b - t_shift) for p, a, b in utt.phones if p != "SIL"],
                    words=[(w, a - t_shift, b - t_shift) for w, a, b in utt.words])
        return torch.from_numpy(audio.astype(np.float32)), tracks, plan, meta

    def _base_pose(self, u: np.ndarray) -> np.ndarray:
        """The clip's base (yaw, pitch, roll) from three uniforms in [-1, 1), by `pose_preset` (see POSE_PRESETS)."""
        c = self.config
        spec = POSE_PRESETS[c.pose_preset]
        lim = np.array([c.max_yaw, c.max_pitch, c.max_roll])
        if spec["kind"] == "wide":
            return np.array([c.max_yaw * u[0] * abs(u[0]), c.max_pitch * u[1], c.max_roll * u[2]])
        if spec["kind"] == "normal":  # inverse normal CDF of the same uniforms
            z = math.sqrt(2.0) * torch.erfinv(torch.from_numpy(np.clip(u, -1 + 1e-9, 1 - 1e-9))).numpy()
            return np.clip(np.asarray(spec["sd"]) * z, -lim, lim)
        if spec["kind"] == "grid":
            yaws = spec["yaws"]
            return np.array([yaws[min(int((u[0] + 1) / 2 * len(yaws)), len(yaws) - 1)], 0.0, 0.0])
        return np.zeros(3)

    def _motion(self, rp: np.random.Generator) -> dict:
        """Head pose [T,3], centre [T,2] (pixels), scale, blinks [T] and light direction of a clip."""
        c = self.config
        T, H = c.num_frames, c.image_size
        # pose: a base pose (by pose_preset) plus smooth small motion
        base = self._base_pose(rp.uniform(-1, 1, 3))
        t = np.arange(T) / FPS
        wob = np.zeros((T, 3))
        for k, amp in enumerate(ROTATION_AMPLITUDE):
            f1, f2 = rp.uniform(0.2, 0.8, 2) * c.motion_speed
            ph = rp.uniform(0, 2 * math.pi, 2)
            wob[:, k] = amp * c.rotation_motion * (0.6 * np.sin(2 * math.pi * f1 * t + ph[0])
                                                   + 0.4 * np.sin(2 * math.pi * f2 * t + ph[1]))
        pose = torch.from_numpy(base[None] + wob).float()
        if c.max_yaw < 90 and POSE_PRESETS[c.pose_preset]["kind"] in ("wide", "normal"):
            pose[:, 0] = pose[:, 0].clamp(-c.max_yaw, c.max_yaw)
        scale = H * 0.36 * c.face_scale * float(rp.uniform(0.93, 1.07))
        c0 = H / 2 + H * 0.03 * rp.uniform(-1, 1, 2)
        trans = np.zeros((T, 2))
        for k in range(2):
            f = rp.uniform(0.2, 0.6) * c.motion_speed
            trans[:, k] = H * TRANSLATION_AMPLITUDE * c.translation_motion * np.sin(
                2 * math.pi * f * t + rp.uniform(0, 2 * math.pi))
        centre = torch.from_numpy(c0[None] + trans).float()
        centre[:, 1] += H * 0.02  # the face sits slightly below the middle, like a face crop
        # blinks: Poisson events, each closing over 2 frames and opening over 3
        blink = np.zeros(T)
        n_blinks = rp.poisson(c.blink_rate * T / FPS)
        for s in rp.uniform(-2, T, n_blinks):
            k = np.arange(T)
            blink = np.maximum(blink, np.clip(1 - np.abs(k - s) / np.where(k < s, 2.0, 3.0), 0, 1))
        blink = torch.from_numpy(blink).float()
        ang = rp.uniform(-0.6, 0.6)
        light = torch.tensor([math.sin(ang), -rp.uniform(0.1, 0.6), 1.0])
        light = light / light.norm()
        return dict(pose=pose, centre=centre, scale=scale, blink=blink, light=light)

    def pose(self, i: int, split: str = "train") -> torch.Tensor:
        """The head pose track [T, 3] (yaw, pitch, roll in degrees) of clip i, without rendering."""
        _check_split(split)
        return self._motion(self._plan(int(i), split)["r_pose"])["pose"]

    def head_motion(self, i: int, split: str = "train") -> dict:
        """The rigid head motion of clip i without rendering or speech: pose [T,3] (degrees), centre [T,2] and
        scale (pixels), and the landmarks [T,68,2] (pixels) of a neutral face (mouth closed, eyes open) moving
        with it, which is what a motion probe needs (`stats.motion_premises`)."""
        _check_split(split)
        plan = self._plan(_check_index(i), split)
        mo = self._motion(plan["r_pose"])
        T = self.config.num_frames
        z = torch.zeros(T)
        chart = facemod.landmarks_chart(plan["idn"], z, z, torch.ones(T), z)
        lm = facemod.project(facemod.chart_to_surface(chart, plan["idn"]), facemod.rotation(mo["pose"]),
                             mo["scale"], mo["centre"])
        return dict(pose=mo["pose"], centre=mo["centre"], scale=mo["scale"], landmarks=lm)

    def head_axes(self, i: int, split: str = "train") -> tuple[float, float, float]:
        """The semi-axes (a, b, c) in head units of the ellipsoid the renderer ray-casts for clip i's person
        (x: face width, y: b = 1, z: face depth). With `head_motion` this is the whole rigid geometry of a clip,
        from which `gtflow` derives its ground-truth optical flow."""
        _check_split(split)
        idn = self._plan(_check_index(i), split)["idn"]
        return float(idn.face_width), 1.0, float(idn.face_depth)

    def _scene(self, i: int, split: str) -> dict:
        """Everything of clip i but the rendered pixels: plan, audio, tracks, motion, background, cloth."""
        _check_split(split)
        i = _check_index(i)
        audio, tracks, plan, meta = self._audio_and_tracks(i, split)
        gen = torch.Generator().manual_seed(int(plan["r_misc"].integers(2**62)))
        mo = self._motion(plan["r_pose"])
        mouth = _scaled_mouth({k: torch.from_numpy(tracks[k]).float() for k in ("jaw", "spread", "closed")},
                              self.config.mouth_motion)
        bg = facemod.background(gen, self.config.image_size)
        cloth = tuple(float(v) for v in plan["r_misc"].uniform(0.05, 0.8, 3))
        return dict(i=i, split=split, audio=audio, tracks=tracks, plan=plan, meta=meta, mouth=mouth, bg=bg,
                    cloth=cloth, **mo)

    def _frontal_centre(self, n: int) -> torch.Tensor:
        H = self.config.image_size
        zc = torch.full((n, 2), H / 2.0)
        zc[:, 1] += H * 0.02
        return zc

    def _sample(self, sc: dict, pose: torch.Tensor) -> AVSample:
        """Render scene `sc` with head pose track `pose` [T,3] (plus its frontal ground truth) as an AVSample."""
        c = self.config
        T, H = c.num_frames, c.image_size
        plan, tracks, meta, mouth, blink = sc["plan"], sc["tracks"], sc["meta"], sc["mouth"], sc["blink"]
        idn = plan["idn"]
        alb, nrm = self._texture(idn)
        chart = facemod.landmarks_chart(idn, mouth["jaw"], mouth["spread"], mouth["closed"], blink)
        video, lm = facemod.render(idn, alb, nrm, pose, sc["centre"], sc["scale"], mouth, blink, sc["bg"],
                                   sc["light"], sc["cloth"], chart=chart)
        frontal = frontal_lm = None
        if c.render_frontal:
            frontal, frontal_lm = facemod.render(idn, alb, nrm, torch.zeros(T, 3), self._frontal_centre(T),
                                                 H * 0.36 * c.face_scale, mouth, blink, sc["bg"],
                                                 _canonical_light(), sc["cloth"], chart=chart)
            frontal = _quantize(frontal)
        attrs = {"gender": idn.gender, "age": idn.age, **idn.attributes()}
        extras = dict(word_index=plan["word_index"], f1=torch.from_numpy(tracks["f1"]).float(),
                      f0=torch.from_numpy(tracks["f0"]).float(), jaw=mouth["jaw"], spread=mouth["spread"],
                      closed=mouth["closed"], blink=blink, voiced=torch.from_numpy(tracks["voice"]).float(),
                      phones=meta["phones"], words=meta["words"], voice=asdict(plan["voice"]),
                      frontal_landmarks=frontal_lm, split=sc["split"], index=sc["i"])
        return AVSample(video=_quantize(video), fps=FPS, audio=sc["audio"], sample_rate=SAMPLE_RATE, landmarks=lm,
                        pose=pose, text=plan["text"], speaker=idn.id, attributes=attrs, frontal=frontal,
                        source=f"synth:{self.key}:{sc['split']}:{sc['i']}", extras=extras)

    def clip(self, i: int, split: str = "train") -> AVSample:
        """Clip i of `split` (deterministic). Video/frontal [T,3,H,W] in [0,1], audio [T*640] at 16 kHz."""
        sc = self._scene(i, split)
        return self._sample(sc, sc["pose"])

    def render_at(self, i: int, split: str = "train", pose=(0.0, 0.0, 0.0)) -> AVSample:
        """Clip i of `split` with its head pose replaced by `pose`: (yaw, pitch, roll) in degrees for every frame,
        or a track [T, 3]. Everything else is the clip's (person, speech and mouth, blinks, light, background,
        position and scale in the frame, frontal ground truth); `sample.pose` is the requested pose."""
        sc = self._scene(i, split)
        return self._sample(sc, _pose_track(pose, self.config.num_frames))

    def multiview(self, i: int, split: str = "train", yaws=(-45.0, 0.0, 45.0), frame: int | None = None,
                  pitch: float = 0.0, roll: float = 0.0) -> Views:
        """One frame of clip i (default: the middle one) seen at several yaws (degrees), with the given pitch and
        roll: the same person, expression (mouth, eyelids), light, background and position in every view, and
        the frame's frontal ground truth."""
        c = self.config
        sc = self._scene(i, split)
        T, H = c.num_frames, c.image_size
        f = T // 2 if frame is None else frame
        if isinstance(f, bool) or not isinstance(f, int | np.integer) or not 0 <= f < T:
            raise ValueError(f"multiview: frame={frame!r} must be an int in [0, {T})")
        yaws_t = torch.as_tensor(yaws, dtype=torch.float32).reshape(-1)
        if yaws_t.numel() == 0:
            raise ValueError("multiview: yaws is empty; give at least one yaw (degrees)")
        poses = torch.stack([yaws_t, torch.full_like(yaws_t, float(pitch)), torch.full_like(yaws_t, float(roll))], 1)
        poses = _pose_track(poses, len(yaws_t), what="multiview: yaws/pitch/roll")
        V = poses.shape[0]
        idn = sc["plan"]["idn"]
        alb, nrm = self._texture(idn)
        mouth = {k: v[f:f + 1].expand(V).contiguous() for k, v in sc["mouth"].items()}
        blink = sc["blink"][f:f + 1].expand(V).contiguous()
        centre = sc["centre"][f:f + 1].expand(V, 2).contiguous()
        images, lm = facemod.render(idn, alb, nrm, poses, centre, sc["scale"], mouth, blink, sc["bg"],
                                    sc["light"], sc["cloth"])
        one = {k: v[:1] for k, v in mouth.items()}
        front, front_lm = facemod.render(idn, alb, nrm, torch.zeros(1, 3), self._frontal_centre(1),
                                         H * 0.36 * c.face_scale, one, blink[:1], sc["bg"], _canonical_light(),
                                         sc["cloth"])
        return Views(images=_quantize(images), landmarks=lm, poses=poses, frontal=_quantize(front[0]),
                     frontal_landmarks=front_lm[0], speaker=idn.id,
                     attributes={"gender": idn.gender, "age": idn.age, **idn.attributes()},
                     source=f"synth:{self.key}:{split}:{sc['i']}:frame{f}")

    def gallery(self, split: str = "test", person: int = 0) -> Views:
        """The gallery image of person `person` (an index into `identities(split)`): frontal, neutral expression
        (mouth closed, eyes open), canonical light, centred at the frame's scale, a plain mid-grey background and
        a grey shirt, so that nothing but the person differs between two gallery images. One view."""
        _check_split(split)
        k0, n = self._split_people(split)
        if isinstance(person, bool) or not isinstance(person, int | np.integer) or not 0 <= person < n:
            raise ValueError(f"gallery: person={person!r} must be an int in [0, {n}) (the {split!r} people)")
        c = self.config
        H = c.image_size
        idn = self._person(k0 + int(person))
        alb, nrm = self._texture(idn)
        z = torch.zeros(1)
        mouth = {"jaw": z, "spread": z, "closed": torch.ones(1)}
        bg = torch.full((3, H, H), 0.5)
        img, lm = facemod.render(idn, alb, nrm, torch.zeros(1, 3), self._frontal_centre(1), H * 0.36 * c.face_scale,
                                 mouth, z, bg, _canonical_light(), (0.45, 0.45, 0.47))
        img = _quantize(img)
        return Views(images=img, landmarks=lm, poses=torch.zeros(1, 3), frontal=img[0], frontal_landmarks=lm[0],
                     speaker=idn.id, attributes={"gender": idn.gender, "age": idn.age, **idn.attributes()},
                     source=f"synth:{self.key}:{split}:gallery{int(person)}")

    def dataset(self, split: str = "train", n_clips: int = 64, cache: bool = True, root=None, workers: int = 0):
        """A torch Dataset of the first `n_clips` clips of `split`, cached on disk in shards (see cache.py);
        `workers` > 1 builds missing shards in that many processes."""
        from avfh_core.data.cache import SynthDataset

        _check_split(split)
        return SynthDataset(self, split, n_clips, cache=cache, root=root, workers=workers)


WORLD_SEED = 0  # the seed rule: one world for every run seed (see `world`)


def world(cfg=None, **overrides) -> SynthWorld:
    """The synthetic world a run configuration describes: the only builder of the world from a configuration.

    From `cfg` (a `RunConfig`, or None for the defaults): image_size = cfg.hr_size, num_frames = cfg.clip_frames,
    vocab_size = cfg.vocab_size, and the people n_train_identities = cfg.world_train_people, n_test_identities =
    cfg.world_test_people (presets: smoke 40 + 12, course 100 + 50, gpu 500 + 100, paper 1000 + 250). `overrides` are `SynthConfig` fields (voice_coupling=0.0, image_size=128, ...).

    The seed rule: the world's seed is WORLD_SEED, independent of the run seed, unless `seed=` is passed. So every
    network of a run (generator, lip reader, feature network) and every seed of an experiment sees the same
    people, with the same held-out identities; the run seed changes initial weights and batches, not the world.
    """
    fields = {f.name for f in SynthConfig.__dataclass_fields__.values()}
    unknown = sorted(k for k in overrides if k not in fields)
    if unknown:
        raise ValueError(f"world: unknown SynthConfig field(s) {unknown}; known: {sorted(fields)}")
    values: dict = {"seed": WORLD_SEED}
    if cfg is not None:
        values.update(image_size=int(cfg.hr_size), num_frames=int(cfg.clip_frames), vocab_size=int(cfg.vocab_size))
        for knob, name in (("world_train_people", "n_train_identities"), ("world_test_people", "n_test_identities")):
            v = getattr(cfg, knob, None)
            if v is not None:
                values[name] = int(v)
    values.update(overrides)
    return SynthWorld(SynthConfig(**values))


MOUTH_RANGES = {"jaw": (0.0, 1.0), "spread": (-1.0, 1.0), "closed": (0.0, 1.0)}  # rest is 0 for each


def _scaled_mouth(mouth: dict[str, torch.Tensor], motion: float) -> dict[str, torch.Tensor]:
    """Mouth tracks moved `motion` times as far from rest (0), clamped to MOUTH_RANGES; unchanged at 1."""
    if motion == 1.0:
        return mouth
    return {k: (v * motion).clamp(*MOUTH_RANGES[k]) for k, v in mouth.items()}


def _quantize(x: torch.Tensor) -> torch.Tensor:
    """8-bit quantisation in place (x is a fresh render)."""
    return x.clamp_(0, 1).mul_(255).round_().div_(255)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


@dataclass(frozen=True)
class Views:
    """Still images of one scene (`SynthWorld.multiview`, `SynthWorld.gallery`): images [V,3,H,W] in [0,1]
    (8-bit), landmarks [V,68,2] (pixels), poses [V,3] (yaw, pitch, roll, degrees), the scene's frontal ground
    truth frontal [3,H,W] and frontal_landmarks [68,2], the person's id and attributes."""

    images: torch.Tensor
    landmarks: torch.Tensor
    poses: torch.Tensor
    frontal: torch.Tensor
    frontal_landmarks: torch.Tensor
    speaker: int
    attributes: dict
    source: str


def _canonical_light() -> torch.Tensor:
    light = torch.tensor(CANONICAL_LIGHT)
    return light / light.norm()


def _pose_track(pose, T: int, what: str = "render_at: pose") -> torch.Tensor:
    """(yaw, pitch, roll) or [T,3] degrees -> a float [T,3] track; a clear error for anything else."""
    try:
        p = torch.as_tensor(pose, dtype=torch.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be (yaw, pitch, roll) in degrees or a [T,3] track, got {pose!r}") from e
    if p.shape == (3,):
        p = p[None].expand(T, 3)
    if tuple(p.shape) != (T, 3):
        raise ValueError(f"{what} must be (yaw, pitch, roll) in degrees or a [{T},3] track, got shape "
                         f"{tuple(p.shape)}")
    if not bool(torch.isfinite(p).all()):
        raise ValueError(f"{what} contains non-finite angles")
    if float(p[:, 0].abs().max()) > 90 or float(p[:, 1:].abs().max()) > 60:
        raise ValueError(f"{what}: |yaw| must be <= 90 and |pitch|, |roll| <= 60 degrees (the renderer shows the "
                         f"front of the head), got max |yaw| {float(p[:, 0].abs().max()):g}, "
                         f"max |pitch|, |roll| {float(p[:, 1:].abs().max()):g}")
    return p.clone()


def _check_index(i) -> int:
    if isinstance(i, bool) or not isinstance(i, int | np.integer) or i < 0:
        raise ValueError(f"clip index must be a non-negative int, got {i!r}")
    return int(i)
