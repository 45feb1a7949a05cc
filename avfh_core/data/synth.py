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

Clip i of a configuration is a pure function of (config, split, i): generated on demand, and cached on disk in
shards by `SynthWorld.dataset` (see `avfh_core.data.cache`). Video is quantised to 8 bits and audio to 16 bits, as
real recordings are, so a cached clip equals a freshly generated one exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from avfh_core.data import face as facemod
from avfh_core.data import speech as sp
from avfh_core.data.sample import AVSample

GENERATOR_VERSION = 4  # bump when the rendering or speech changes: it is part of the cache key
FPS = 25.0
SAMPLE_RATE = sp.SAMPLE_RATE
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)  # 640
SPLITS = ("train", "test")


@dataclass(frozen=True)
class SynthConfig:
    """Configuration of a synthetic world. Every field is part of the cache key."""

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
    motion: float = 1.0  # amplitude of the smooth head motion within a clip (1 = a few degrees, ~2% translation)
    utterance: str = "word"  # "word": LRW-like single words; "sentence": GRID-like 6-word commands
    n_train_identities: int = 40
    n_test_identities: int = 12
    render_frontal: bool = True
    blink_rate: float = 0.3  # blinks per second
    # --- face knobs (world v5) ---

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
        if self.utterance not in ("word", "sentence"):
            bad("utterance", "must be 'word' or 'sentence'")
        if self.n_train_identities < 1 or self.n_test_identities < 1:
            bad("n_train_identities", "both identity counts must be >= 1")
        if self.seed < 0:
            bad("seed", "must be >= 0")
        return self

    def as_dict(self) -> dict:
        return asdict(self)


class SynthWorld:
    """A deterministic world of talking faces. `clip(i, split)` -> AVSample; `dataset(split, n)` -> cached Dataset.

    >>> world = SynthWorld(SynthConfig(image_size=64, num_frames=29, vocab_size=20, seed=0))
    >>> s = world.clip(0, split="train")
    >>> s.video.shape, s.audio.shape, s.landmarks.shape
    (torch.Size([29, 3, 64, 64]), torch.Size([18560]), torch.Size([29, 68, 2]))
    """

    def __init__(self, config: SynthConfig | None = None, **kwargs):
        if config is None:
            config = SynthConfig(**kwargs)
        elif kwargs:
            raise ValueError("pass either a SynthConfig or keyword fields, not both")
        self.config = config.validate()
        self._ids: dict[str, list[facemod.Identity]] = {}
        self._tex: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        from avfh_core.data.cache import config_key

        self.key = config_key(self.config.as_dict(), GENERATOR_VERSION)

    # --- identities -------------------------------------------------------------------------------------------
    def identities(self, split: str = "train") -> list[facemod.Identity]:
        """The fixed identities of a split; test identities never appear in train (open set)."""
        _check_split(split)
        if split not in self._ids:
            c = self.config
            n_tr, n_te = c.n_train_identities, c.n_test_identities
            rng = np.random.default_rng(np.random.SeedSequence([c.seed, 1001]))
            people = [facemod.sample_identity(k, rng) for k in range(n_tr + n_te)]
            self._ids["train"], self._ids["test"] = people[:n_tr], people[n_tr:]
        return self._ids[split]

    def _texture(self, idn: facemod.Identity):
        if idn.id not in self._tex:
            if len(self._tex) > 64:
                self._tex.pop(next(iter(self._tex)))
            self._tex[idn.id] = facemod.identity_texture(idn, max(64, self.config.image_size))
        return self._tex[idn.id]

    # --- one clip ---------------------------------------------------------------------------------------------
    def _plan(self, i: int, split: str) -> dict:
        """Everything random about clip i except rendering noise: identity, text, voice."""
        c = self.config
        ss = np.random.SeedSequence([c.seed, SPLITS.index(split), int(i)])
        r_id, r_voice, r_speech, r_pose, r_misc = (np.random.default_rng(s) for s in ss.spawn(5))
        ids = self.identities(split)
        idn = ids[int(r_id.integers(len(ids)))]
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

    def _motion(self, rp: np.random.Generator) -> dict:
        """Head pose [T,3], centre [T,2] (pixels), scale, blinks [T] and light direction of a clip."""
        c = self.config
        T, H = c.num_frames, c.image_size
        # pose: a base pose (frontal-heavy, spanning +-max_yaw) plus smooth small motion
        u = rp.uniform(-1, 1, 3)
        base = np.array([c.max_yaw * u[0] * abs(u[0]), c.max_pitch * u[1], c.max_roll * u[2]])
        t = np.arange(T) / FPS
        wob = np.zeros((T, 3))
        for k, amp in enumerate((4.0, 2.5, 2.0)):
            f1, f2 = rp.uniform(0.2, 0.8, 2)
            ph = rp.uniform(0, 2 * math.pi, 2)
            wob[:, k] = amp * c.motion * (0.6 * np.sin(2 * math.pi * f1 * t + ph[0]) + 0.4 * np.sin(2 * math.pi * f2 * t + ph[1]))
        pose = torch.from_numpy(base[None] + wob).float()
        if c.max_yaw < 90:
            pose[:, 0] = pose[:, 0].clamp(-c.max_yaw, c.max_yaw)
        scale = H * 0.36 * float(rp.uniform(0.93, 1.07))
        c0 = H / 2 + H * 0.03 * rp.uniform(-1, 1, 2)
        trans = np.zeros((T, 2))
        for k in range(2):
            f = rp.uniform(0.2, 0.6)
            trans[:, k] = H * 0.015 * c.motion * np.sin(2 * math.pi * f * t + rp.uniform(0, 2 * math.pi))
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

    def clip(self, i: int, split: str = "train") -> AVSample:
        """Clip i of `split` (deterministic). Video/frontal [T,3,H,W] in [0,1], audio [T*640] at 16 kHz."""
        _check_split(split)
        if not isinstance(i, int | np.integer) or i < 0:
            raise ValueError(f"clip index must be a non-negative int, got {i!r}")
        c = self.config
        T, H = c.num_frames, c.image_size
        audio, tracks, plan, meta = self._audio_and_tracks(int(i), split)
        idn = plan["idn"]
        rp = plan["r_pose"]
        gen = torch.Generator().manual_seed(int(plan["r_misc"].integers(2**62)))
        mo = self._motion(rp)
        pose, centre, scale, blink, light = mo["pose"], mo["centre"], mo["scale"], mo["blink"], mo["light"]
        mouth = {k: torch.from_numpy(tracks[k]).float() for k in ("jaw", "spread", "closed")}
        alb, nrm = self._texture(idn)
        bg = facemod.background(gen, H)
        cloth = tuple(float(v) for v in plan["r_misc"].uniform(0.05, 0.8, 3))
        video, lm = facemod.render(idn, alb, nrm, pose, centre, scale, mouth, blink, bg, light, cloth)
        frontal = frontal_lm = None
        if c.render_frontal:
            zc = torch.full((T, 2), H / 2.0)
            zc[:, 1] += H * 0.02
            frontal, frontal_lm = facemod.render(idn, alb, nrm, torch.zeros(T, 3), zc, H * 0.36, mouth, blink,
                                                 bg, torch.tensor([0.0, -0.35, 1.0]) / math.hypot(0.35, 1.0),
                                                 cloth)
            frontal = _quantize(frontal)
        attrs = {"gender": idn.gender, "age": idn.age, **idn.attributes()}
        extras = dict(word_index=plan["word_index"], f1=torch.from_numpy(tracks["f1"]).float(),
                      f0=torch.from_numpy(tracks["f0"]).float(), jaw=mouth["jaw"], spread=mouth["spread"],
                      closed=mouth["closed"], blink=blink, voiced=torch.from_numpy(tracks["voice"]).float(),
                      phones=meta["phones"], words=meta["words"], voice=asdict(plan["voice"]),
                      frontal_landmarks=frontal_lm, split=split, index=int(i))
        return AVSample(video=_quantize(video), fps=FPS, audio=audio, sample_rate=SAMPLE_RATE, landmarks=lm,
                        pose=pose, text=plan["text"], speaker=idn.id, attributes=attrs, frontal=frontal,
                        source=f"synth:{self.key}:{split}:{int(i)}", extras=extras)

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
    vocab_size = cfg.vocab_size. `overrides` are `SynthConfig` fields (voice_coupling=0.0, image_size=128, ...).

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
    values.update(overrides)
    return SynthWorld(SynthConfig(**values))


def _quantize(x: torch.Tensor) -> torch.Tensor:
    """8-bit quantisation in place (x is a fresh render)."""
    return x.clamp_(0, 1).mul_(255).round_().div_(255)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
