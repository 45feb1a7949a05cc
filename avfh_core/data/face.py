"""Synthetic faces: identities, a 3-D landmark model in the iBUG 68-point order, and a fast vectorised renderer.

Geometry. A head is an ellipsoid with semi-axes (a, b, c) (x right, y down, z towards the camera; b = 1 is the
crown-to-chin half height). Each of the 68 iBUG landmarks is a point on that surface, given by its frontal chart
coordinates (x, y) and z = c sqrt(1 - x^2/a^2 - y^2/b^2); the mouth points move per frame with the articulatory
tracks of the speech synthesizer (jaw opening, spread/rounding, closure). Head pose R(yaw, pitch, roll), a scale s
(pixels per unit) and a translation project points orthographically: p_img = s (R p)_xy + centre + t.

Rendering (one batched pass per clip, no per-pixel Python; only each frame's box around the head is ray-cast):
  1. ray-ellipsoid intersection for every pixel of every frame (orthographic rays along -z): q^T M q = 1,
     M = R D R^T, D = diag(a^-2, b^-2, c^-2), solved in closed form for the front depth; anti-aliased silhouette
     from the implicit-function distance f / |grad f| (1 px smooth step);
  2. the hit point, rotated back to head coordinates, gives texture coordinates (azimuth, elevation) into an
     identity's static albedo + normal map (skin with pores and blotches, hair with strands, brows, eyes, nose,
     ears, facial hair, glasses), rendered once per identity and sampled with `grid_sample`;
  3. per-frame dynamic parts (lips, dark mouth cavity, teeth, tongue, blinking eyelids) are evaluated as
     signed-distance shapes in the head's frontal chart, only inside the small image boxes that can contain them;
  4. Lambertian shading with the rotated normal map (the nose ridge is a bump in the normals), composited over a
     per-clip textured background.
Because landmarks and pixels come from the same surface and projection, a landmark lands on the pixel that shows
its feature (tested). The frontal ground truth is the same face and expression rendered at zero pose.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

SKIN_TONES = {  # albedo RGB, light to dark
    "I": (0.93, 0.80, 0.71), "II": (0.87, 0.70, 0.58), "III": (0.78, 0.60, 0.46),
    "IV": (0.66, 0.48, 0.34), "V": (0.50, 0.35, 0.24), "VI": (0.34, 0.23, 0.16),
}
HAIR_COLOURS = {
    "black": (0.07, 0.06, 0.06), "dark_brown": (0.20, 0.13, 0.08), "brown": (0.38, 0.25, 0.14),
    "blonde": (0.80, 0.66, 0.40), "red": (0.62, 0.27, 0.12), "grey": (0.62, 0.62, 0.60),
}
HAIR_STYLES = ("short", "long", "bald", "curly", "bob")
IRIS_COLOURS = {"brown": (0.30, 0.17, 0.08), "blue": (0.25, 0.42, 0.62), "green": (0.30, 0.45, 0.28),
                "hazel": (0.45, 0.33, 0.15)}


@dataclass(frozen=True)
class Identity:
    """A synthetic person. Geometry is in head units (b = 1)."""

    id: int
    gender: str  # "m" / "f"
    age: float
    skin_tone: str
    hair_colour: str
    hair_style: str
    face_width: float  # ellipsoid semi-axis a
    face_depth: float  # semi-axis c
    eye_spacing: float  # half distance between eye centres
    eye_size: float  # eye half width
    iris_colour: str
    brow_thickness: float
    brow_height: float
    nose_width: float
    nose_length: float
    lip_thickness: float
    lip_width: float
    lip_colour: tuple[float, float, float]
    # world v5 cues (see sample_identity): gender dimorphism ...
    jaw_width: float  # 0 (tapered, V-shaped lower face) .. 1 (broad, square jaw)
    brow_ridge: float  # 0..1: prominence of the brow ridge (shadowed eye sockets, a bump in the normals)
    hair_length: float  # head units the hair falls below the ear line (0: short; > 0.85: past the chin)
    hair_volume: float  # head units the hair mass stands out of the skull
    skin_lightness: float  # albedo factor of the skin (women's skin is on average slightly lighter)
    beard_shadow: float  # 0..1: darker lower face where beard hair grows (shaved or not)
    neck_width: float  # factor on the neck's width
    # ... and ageing
    wrinkles: float  # 0..1: depth of forehead lines, crow's feet, nasolabial folds and under-eye lines
    age_spots: float  # 0..1: density of small pigment spots and uneven skin texture
    sag: float  # 0..1: jowls (shading and a bulge along the lower jaw line)
    facial_hair: str  # "none" / "moustache" / "beard" / "stubble"
    glasses: bool
    texture_seed: int
    voice_u: tuple[float, ...]  # speech.VOICE_UNIFORMS (10) uniforms for the voice (speech.voice_from_attributes)

    def attributes(self) -> dict:
        d = asdict(self)
        d.pop("voice_u")
        d.pop("texture_seed")
        return d


HAIR_SHAPES = {  # style -> (hair_length range, hair_volume range), head units
    "short": ((0.0, 0.0), (0.01, 0.04)), "bald": ((0.0, 0.0), (0.0, 0.0)), "curly": ((0.2, 0.5), (0.10, 0.18)),
    "bob": ((0.5, 0.8), (0.05, 0.11)), "long": ((1.0, 1.7), (0.04, 0.09)),
}


def _check_coupling(name: str, value: float) -> float:
    if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"sample_identity: {name}={value!r} must be a number in [0, 1]")
    return float(value)


def sample_identity(idx: int, rng: np.random.Generator, gender_coupling: float = 1.0,
                    age_coupling: float = 1.0) -> Identity:
    """Draw person `idx` from `rng`: gender, age and every face cue that real faces tie to them.

    Gender cues (sexual dimorphism, each with its own per-person spread, so the two genders overlap on every single
    cue): hair style, length and volume (the silhouette around the head, visible at 8x8), facial hair, beard
    shadow, face width, jaw width, brow ridge, brow thickness and height, nose width, lip thickness and colour, skin
    lightness, neck width. Each cue reads a per-cue "masculinity" m = s + N(0, sd) with s = +-1 the gender; the cue's
    coupling blends s with the sign of an independently drawn decoy gender: s = k s_true + (1 - k) s_decoy.
    Age cues: grey hair (visible at 8x8), and finer ones that need 32-64 px: wrinkles (forehead lines, crow's
    feet, nasolabial folds, under-eye lines, in albedo and normals), age spots and uneven skin, sagging jowls,
    thinner lips, duller skin. Each reads an "oldness" o = (age_c - 18) / 57 + N(0, sd) with
    age_c = k age + (1 - k) decoy_age. Coupling 0 (the control) makes every cue independent of the person's
    gender/age; attributes() always report the true gender and age. The random stream does not depend on the
    couplings, so the worlds at coupling 0 and 1 have the same people except for the coupled cues."""
    kg = _check_coupling("gender_coupling", gender_coupling)
    ka = _check_coupling("age_coupling", age_coupling)
    gender = "m" if rng.random() < 0.5 else "f"
    age = float(rng.uniform(18, 75))
    decoy_m = 1.0 if rng.random() < 0.5 else -1.0
    decoy_age = float(rng.uniform(18, 75))
    sg = kg * (1.0 if gender == "m" else -1.0) + (1 - kg) * decoy_m
    o_mean = (ka * age + (1 - ka) * decoy_age - 18) / 57

    def masc(sd: float) -> float:  # one cue's masculinity, about +-1
        return float(sg + rng.normal(0, sd))

    def oldness(sd: float) -> float:  # one cue's oldness in [0, 1]
        return float(np.clip(o_mean + rng.normal(0, sd), 0, 1))

    o_grey = oldness(0.2)  # greying starts anywhere from the 30s to the 60s
    natural = str(rng.choice(list(HAIR_COLOURS)[:5]))  # drawn always: the stream must not depend on the cues
    hair_colour = natural if rng.random() > o_grey**2 else "grey"
    m_hair, o_hair = masc(0.55), oldness(0.15)
    if m_hair > 0:
        styles = ["short", "curly", "short", "short"] if o_hair < 0.3 else ["short", "bald", "curly", "short"]
    else:
        styles = ["long", "bob", "curly", "long"]
    hair_style = str(rng.choice(styles))
    (l0, l1), (v0, v1) = HAIR_SHAPES[hair_style]
    hair_length, hair_volume = float(rng.uniform(l0, l1)), float(rng.uniform(v0, v1))
    m_beard = masc(0.5)
    facial_hair = str(rng.choice(["none", "none", "moustache", "beard", "stubble"]))
    facial_hair = facial_hair if m_beard > 0 else "none"
    m_lip, o_lip = masc(0.7), oldness(0.15)
    t = float(np.clip(0.5 - 0.5 * m_lip, 0, 1))  # 1 = the redder, darker lips of the female average
    lip_base = t * np.array([0.74, 0.34, 0.36]) + (1 - t) * np.array([0.64, 0.43, 0.41])
    lip = np.clip(lip_base * (1 - 0.08 * o_lip) + rng.normal(0, 0.04, 3), 0, 1)
    o_skin = oldness(0.15)
    return Identity(
        id=idx, gender=gender, age=round(age, 1), skin_tone=str(rng.choice(list(SKIN_TONES))),
        hair_colour=hair_colour, hair_style=hair_style,
        face_width=float(rng.uniform(0.72, 0.80) + 0.04 * masc(0.6)),
        face_depth=float(rng.uniform(0.85, 0.95)),
        eye_spacing=float(rng.uniform(0.26, 0.33)), eye_size=float(rng.uniform(0.09, 0.12)),
        iris_colour=str(rng.choice(list(IRIS_COLOURS))),
        brow_thickness=float(np.clip(rng.uniform(0.026, 0.04) + 0.008 * masc(0.7), 0.018, 0.06)),
        brow_height=float(rng.uniform(0.12, 0.17) - 0.015 * masc(0.7)),
        nose_width=float(np.clip(rng.uniform(0.085, 0.115) + 0.01 * masc(0.8), 0.07, 0.14)),
        nose_length=float(rng.uniform(0.24, 0.30)),
        lip_thickness=float(np.clip(rng.uniform(0.042, 0.06) - 0.006 * masc(0.8) - 0.018 * o_lip, 0.022, 0.075)),
        lip_width=float(rng.uniform(0.15, 0.2)), lip_colour=tuple(float(v) for v in lip),
        jaw_width=float(np.clip(0.5 + 0.3 * masc(0.6), 0, 1)),
        brow_ridge=float(np.clip(0.5 + 0.35 * masc(0.6), 0, 1)),
        hair_length=hair_length, hair_volume=hair_volume,
        skin_lightness=float(1 - 0.05 * masc(0.8) - 0.04 * o_skin),
        beard_shadow=float(np.clip(m_beard, 0, 1.5) / 1.5),
        neck_width=float(1 + 0.1 * masc(0.6)),
        wrinkles=float(np.clip(1.2 * oldness(0.08) - 0.1, 0, 1)),
        age_spots=float(np.clip((oldness(0.15) - 0.3) / 0.7, 0, 1)),
        sag=float(np.clip((oldness(0.15) - 0.25) / 0.75, 0, 1)),
        facial_hair=facial_hair, glasses=bool(rng.random() < 0.2),
        texture_seed=int(rng.integers(2**31)), voice_u=tuple(float(v) for v in rng.random(10)),
    )


# ----------------------------------------------------------------------------------------------------------------
# 3-D landmark model (iBUG 68 order)

EYE_Y, MOUTH_Y = -0.08, 0.47


def landmarks_chart(idn: Identity, jaw: torch.Tensor, spread: torch.Tensor, closed: torch.Tensor,
                    blink: torch.Tensor) -> torch.Tensor:
    """Frontal chart coordinates (x, y) of the 68 iBUG points per frame -> [T, 68, 2].

    jaw in [0,1] opens the mouth (inner-lip gap up to 0.24 units, 65% of it moving the lower lip; the chin drops 0.4 of it);
    spread in [-1,1] widens (>0) or rounds (<0) the lips; closed in [0,1] presses the lips together; blink in [0,1]
    lowers the upper eyelids."""
    T = jaw.shape[0]
    a = idn.face_width
    pts = torch.zeros(T, 68, 2)
    close_f = 1 - torch.clamp((closed - 0.3) / 0.4, 0, 1)
    gap = 0.24 * jaw * close_f
    # jaw line 0..16: a U from the ear level to the chin, the chin drops with the jaw
    t = torch.linspace(0, math.pi, 17)
    x = -a * 0.96 * torch.cos(t)
    y0, yc = -0.02, 0.88
    y = y0 + (yc - y0) * torch.sin(t)
    drop = 0.4 * gap[:, None] * torch.sin(t)[None] ** 4  # stays on the head (y < 0.98)
    pts[:, 0:17, 0] = x
    pts[:, 0:17, 1] = y[None] + drop
    # brows 17..21 (image left = subject right), 22..26
    by = EYE_Y - idn.brow_height
    for side, sl in ((-1, range(17, 22)), (1, range(26, 21, -1))):
        xs = torch.linspace(idn.eye_spacing + idn.eye_size * 1.5, idn.eye_spacing - idn.eye_size * 1.3, 5)
        ys = by - 0.035 * torch.sin(torch.linspace(0.3, math.pi - 0.3, 5))
        for j, k in enumerate(sl):
            pts[:, k, 0] = side * xs[j]
            pts[:, k, 1] = ys[j]
    # nose 27..30 bridge, 31..35 base
    nl = idn.nose_length
    for j, k in enumerate(range(27, 31)):
        pts[:, k, 0] = 0.0
        pts[:, k, 1] = EYE_Y + nl * (j / 3) * 0.95
    nw = idn.nose_width
    for j, k in enumerate(range(31, 36)):
        pts[:, k, 0] = nw * (j - 2) / 2
        pts[:, k, 1] = EYE_Y + nl + 0.03 - 0.02 * (1 - abs(j - 2) / 2)
    # eyes: 36 outer, 37 38 top, 39 inner, 40 41 bottom (subject right = image left); 42..47 mirrored
    ew, eh = idn.eye_size, idn.eye_size * 0.42
    for side, idx in ((-1, (36, 37, 38, 39, 40, 41)), (1, (45, 44, 43, 42, 47, 46))):
        cx = side * idn.eye_spacing
        o, t1, t2, i, b1, b2 = idx
        pts[:, o] = torch.tensor([cx + side * ew, EYE_Y])
        pts[:, i] = torch.tensor([cx - side * ew, EYE_Y])
        for k, dx in ((t1, ew / 3), (t2, -ew / 3)):
            pts[:, k, 0] = cx + side * dx
            pts[:, k, 1] = EYE_Y - eh * 0.943 * (1 - 2 * blink)  # the upper lid, as drawn by _eyelids
        for k, dx in ((b1, -ew / 3), (b2, ew / 3)):
            pts[:, k, 0] = cx + side * dx
            pts[:, k, 1] = EYE_Y + eh * 0.943
    # mouth: outer 48..59, inner 60..67
    hw = idn.lip_width * (1 + 0.18 * spread) * (1 - 0.1 * jaw)
    th = idn.lip_thickness
    cy = MOUTH_Y
    up_in = cy - 0.35 * gap
    lo_in = cy + 0.65 * gap
    ri = 0.75 + 0.15 * jaw  # rounder inner opening when the jaw is open
    outer_x = torch.tensor([-1.0, -0.6, -0.28, 0.0, 0.28, 0.6, 1.0, 0.6, 0.28, 0.0, -0.28, -0.6])
    pts[:, 48:60, 0] = outer_x[None] * hw[:, None]
    upper_shape = torch.tensor([0.0, 0.75, 1.0, 0.85, 1.0, 0.75, 0.0])  # cupid's bow
    for j in range(7):  # 48..54 corner-top-corner
        pts[:, 48 + j, 1] = up_in - th * upper_shape[j] - 0.01 * (1 - upper_shape[j])
    lower_shape = torch.tensor([0.7, 0.95, 1.0, 0.95, 0.7])  # 55..59, right to left
    for j in range(5):
        pts[:, 55 + j, 1] = lo_in + th * 1.2 * lower_shape[j]
    pts[:, 48, 1] = cy + 0.1 * gap
    pts[:, 54, 1] = cy + 0.1 * gap
    hi = hw * 0.88
    inner_x = torch.tensor([-1.0, -0.45, 0.0, 0.45, 1.0, 0.45, 0.0, -0.45])
    pts[:, 60:68, 0] = inner_x[None] * hi[:, None]
    pts[:, 60, 1] = cy + 0.1 * gap
    pts[:, 64, 1] = cy + 0.1 * gap
    for k, f in ((61, ri), (62, 1.0), (63, ri)):
        pts[:, k, 1] = cy - 0.35 * gap * f
    for k, f in ((65, ri), (66, 1.0), (67, ri)):
        pts[:, k, 1] = cy + 0.65 * gap * f
    return pts


def chart_to_surface(xy: torch.Tensor, idn: Identity) -> torch.Tensor:
    """(x, y) chart points -> 3-D points on the front of the head ellipsoid, [..., 3]."""
    a, c = idn.face_width, idn.face_depth
    r = 1 - (xy[..., 0] / a) ** 2 - xy[..., 1] ** 2
    z = c * torch.sqrt(r.clamp_min(1e-4))
    return torch.cat([xy, z[..., None]], -1)


def rotation(pose: torch.Tensor) -> torch.Tensor:
    """R = Rz(roll) Rx(pitch) Ry(yaw) for pose [T, 3] (yaw, pitch, roll) in degrees -> [T, 3, 3].

    Positive yaw turns the face towards image right, positive pitch tilts the chin down (face looks down)."""
    y, p, r = torch.deg2rad(pose).unbind(-1)
    cy, sy, cp, sp, cr, sr = y.cos(), y.sin(), p.cos(), p.sin(), r.cos(), r.sin()
    o, z = torch.ones_like(y), torch.zeros_like(y)
    Ry = torch.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).view(-1, 3, 3)
    Rx = torch.stack([o, z, z, z, cp, -sp, z, sp, cp], -1).view(-1, 3, 3)
    Rz = torch.stack([cr, -sr, z, sr, cr, z, z, z, o], -1).view(-1, 3, 3)
    return Rz @ Rx @ Ry


def project(points: torch.Tensor, R: torch.Tensor, scale: float, centre: torch.Tensor) -> torch.Tensor:
    """Orthographic projection p_img = scale * (R p)_xy + centre; points [T, N, 3], R [T,3,3], centre [T,2]."""
    q = points @ R.transpose(1, 2)
    return scale * q[..., :2] + centre[:, None, :]


# ----------------------------------------------------------------------------------------------------------------
# Static texture (albedo + normals) of an identity, in (azimuth, elevation) coordinates


def _smooth_noise(gen: torch.Generator, h: int, w: int, k: int, ch: int = 1) -> torch.Tensor:
    """Band-limited noise: white noise blurred by a box of size k (two passes), unit std -> [ch, h, w]."""
    n = torch.randn(1, ch, h, w, generator=gen)
    if k > 1:
        ker = torch.ones(ch, 1, 1, k) / k
        for _ in range(2):
            n = F.conv2d(F.pad(n, (k // 2, k - 1 - k // 2, 0, 0), mode="circular"), ker, groups=ch)
            n = F.conv2d(F.pad(n, (0, 0, k // 2, k - 1 - k // 2), mode="replicate"), ker.transpose(2, 3), groups=ch)
    n = n[0]
    return n / n.std().clamp_min(1e-6)


def _sstep(d: torch.Tensor, w: float) -> torch.Tensor:
    """Anti-aliased inside-mask from a signed distance d (negative inside), transition width w."""
    return torch.clamp(0.5 - d / w, 0.0, 1.0)


def _ellipse_sd(x, y, cx, cy, rx, ry):
    """Approximate signed distance to an axis-aligned ellipse (in units of the smaller radius)."""
    m = torch.minimum(torch.as_tensor(rx), torch.as_tensor(ry))
    return (torch.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) - 1) * m


def polyline_distance(p: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Distance from points p [..., 2] to a polyline pts [..., N, 2] (broadcast over leading dims) -> [...]."""
    a = pts[..., :-1, :]
    b = pts[..., 1:, :]
    e = b - a
    w = p[..., None, :] - a
    h = ((w * e).sum(-1) / (e * e).sum(-1).clamp_min(1e-12)).clamp(0, 1)
    d = w - e * h[..., None]
    return d.norm(dim=-1).min(-1).values


def polygon_sd(p: torch.Tensor, poly: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) from p [..., P, 2] to closed polygons poly [..., N, 2] -> [..., P]."""
    v = poly[..., None, :, :]  # [..., 1, N, 2]
    vn = torch.roll(v, -1, dims=-2)
    e = vn - v
    w = p[..., :, None, :] - v  # [..., P, N, 2]
    h = ((w * e).sum(-1) / (e * e).sum(-1).clamp_min(1e-12)).clamp(0, 1)
    b = w - e * h[..., None]
    d = (b * b).sum(-1).min(-1).values.sqrt()
    py = p[..., :, None, 1]
    c1 = py >= v[..., 1]
    c2 = py < vn[..., 1]
    c3 = e[..., 0] * w[..., 1] > e[..., 1] * w[..., 0]
    cross = ((c1 & c2 & c3) | (~c1 & ~c2 & ~c3)).sum(-1) % 2 == 1
    return torch.where(cross, -d, d)


def _skin(idn: Identity) -> torch.Tensor:
    """Skin albedo RGB of a person: the tone, its lightness factor, and the duller, less rosy skin of age."""
    base = torch.tensor(SKIN_TONES[idn.skin_tone]) * idn.skin_lightness
    return base * (1 - 0.06 * idn.age_spots * torch.tensor([0.0, 0.3, 0.6]))


def _age_lines(idn: Identity, albedo: torch.Tensor, x, y, front, size: int) -> torch.Tensor:
    """Draw wrinkles into `albedo` (in place) and return their height field (grooves are negative).

    Forehead lines, crow's feet, under-eye lines, nasolabial folds and jowls, each scaled by the person's
    `wrinkles` / `sag`. Lines are about one texel wide (anti-aliased), so they show at 32-64 px and average away
    at 8x8."""
    hgt = torch.zeros_like(x)
    wr, sag = idn.wrinkles, idn.sag
    if wr <= 0 and sag <= 0:
        return hgt
    w = max(0.012, 0.7 * math.pi / size)  # line half-width in chart units (>= ~one texel)
    lines = torch.zeros_like(x)
    # forehead: 3 slightly wavy horizontal lines between the brows and the hairline
    top = EYE_Y - idn.brow_height - 0.07
    for k in range(3):
        yl = top - 0.075 * k + 0.012 * torch.sin(x * 9 + k)
        lines = torch.maximum(lines, torch.exp(-(((y - yl) / w) ** 2)) * torch.sigmoid((0.32 - x.abs()) / 0.04)
                              * (wr > 0.15 * k))
    # crow's feet: three rays from each outer eye corner
    for s in (-1, 1):
        cx = s * (idn.eye_spacing + idn.eye_size * 1.15)
        for ang in (-0.45, 0.0, 0.45):
            dx, dy = s * math.cos(ang), math.sin(ang)
            u = (x - cx) * dx + (y - EYE_Y) * dy
            v = -(x - cx) * dy + (y - EYE_Y) * dx
            lines = torch.maximum(lines, torch.exp(-((v / w) ** 2)) * ((u > 0.01) & (u < 0.1)).float())
        # under-eye line: an arc below the eye
        ex = s * idn.eye_spacing
        d = _ellipse_sd(x, y, ex, EYE_Y + 0.02, idn.eye_size * 1.1, idn.eye_size * 0.7)
        lines = torch.maximum(lines, torch.exp(-((d / w) ** 2)) * (y > EYE_Y + 0.04).float() * 0.7)
    lines = lines * wr * front
    # nasolabial folds: from the nose wing past the mouth corner (broader, deeper with age)
    fold = torch.zeros_like(x)
    for s in (-1, 1):
        pts = torch.tensor([[s * idn.nose_width * 0.9, EYE_Y + idn.nose_length],
                            [s * (idn.lip_width + 0.06), MOUTH_Y - 0.02],
                            [s * (idn.lip_width + 0.07), MOUTH_Y + 0.12]])
        d = polyline_distance(torch.stack([x, y], -1), pts)
        fold = torch.maximum(fold, torch.exp(-((d / (1.5 * w)) ** 2)))
    fold = fold * (0.3 + 0.7 * wr) * min(1.0, 2 * wr) * front
    # jowls: a bulge and its shadow along the lower jaw, beside the chin
    jowl = torch.exp(-(((x.abs() - 0.52 * idn.face_width) / 0.1) ** 2 + ((y - 0.78) / 0.07) ** 2)) * sag * front
    # a groove is dark and the skin folded up beside it catches light: the lines' local mean (5-texel box) is
    # taken out, so they carry detail, not an overall darkening that would survive at 8x8
    dark = (0.6 * lines + 0.45 * fold).clamp(0, 0.75)[None, None]
    dark = dark - F.avg_pool2d(F.pad(dark, (2, 2, 2, 2), mode="replicate"), 5, 1)
    albedo.mul_((1 - 1.6 * dark[0, 0] - 0.15 * jowl).clamp(0.2, 1.5))
    hgt = -0.012 * lines - 0.02 * fold + 0.03 * jowl
    return hgt


def identity_texture(idn: Identity, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Albedo [3, size, 2 size] and normals [3, size, 2 size] over (azimuth in [-pi, pi], elevation in
    [-pi/2, pi/2]) of the head ellipsoid, for the static parts of the face (all but lips and eyelids)."""
    gen = torch.Generator().manual_seed(idn.texture_seed)
    H, W = size, 2 * size
    az = (torch.arange(W) + 0.5) / W * 2 * math.pi - math.pi
    el = (torch.arange(H) + 0.5) / H * math.pi - math.pi / 2
    el, az = torch.meshgrid(el, az, indexing="ij")
    a, b, c = idn.face_width, 1.0, idn.face_depth
    x = a * torch.cos(el) * torch.sin(az)
    y = b * torch.sin(el)
    z = c * torch.cos(el) * torch.cos(az)
    front = (z > 0).float()
    px = 1.0 / size * 2.2  # about one texel in chart units, for anti-aliasing

    skin = _skin(idn)[:, None, None]
    albedo = skin * (1 + 0.05 * _smooth_noise(gen, H, W, 9) + (0.025 + 0.05 * idn.age_spots) * _smooth_noise(gen, H, W, 1)
                     + 0.015 * _smooth_noise(gen, H, W, 3, 3))
    # cheeks: a soft blush; eye sockets and under-chin slightly darker
    cheek = torch.exp(-(((x.abs() - 0.42) / 0.12) ** 2 + ((y - 0.22) / 0.1) ** 2)) * front
    albedo = albedo * (1 - 0.06 * cheek) + torch.tensor([0.75, 0.35, 0.3])[:, None, None] * 0.06 * cheek
    socket = torch.exp(-(((x.abs() - idn.eye_spacing) / 0.16) ** 2 + ((y - EYE_Y + 0.02) / 0.08) ** 2)) * front
    albedo = albedo * (1 - (0.06 + 0.14 * idn.brow_ridge) * socket)
    # jaw: a tapered (low jaw_width) lower face turns away from the light sooner; a broad jaw stays lit
    jx = (0.5 + 0.3 * idn.jaw_width) * a
    flank = torch.sigmoid((x.abs() - jx) / 0.04) * torch.sigmoid((y - 0.3) / 0.06) * front
    albedo = albedo * (1 - 0.3 * flank)
    # beard shadow: hair follicles under shaved skin darken the jaw, chin and upper lip (blue-grey)
    bmask = (torch.sigmoid((y - MOUTH_Y + 0.1) / 0.04) * torch.sigmoid((0.8 * a - x.abs()) / 0.05)
             * torch.sigmoid((0.97 - y) / 0.03) * front)
    bs = 0.2 * idn.beard_shadow * bmask
    albedo = albedo * (1 - bs) + bs * torch.tensor([0.25, 0.25, 0.3])[:, None, None]
    # ageing (fine scale: lines about a texel wide, spots of a few texels), plus a height field for the normals
    hgt = _age_lines(idn, albedo, x, y, front, size)
    spots_age = (_smooth_noise(gen, H, W, 2) > 2.4 - 1.2 * idn.age_spots).float() * front * (idn.age_spots > 0)
    albedo = albedo * (1 - 0.25 * spots_age * torch.tensor([0.4, 0.6, 0.9])[:, None, None])
    # freckles / moles for texture variety
    spots = (_smooth_noise(gen, H, W, 1) > 2.6).float() * front
    albedo = albedo * (1 - 0.15 * spots)

    # ears at the sides (azimuth ~ +-90 deg)
    for s in (-1, 1):
        d = _ellipse_sd(az, el, s * math.pi * 0.53, 0.05, 0.11, 0.22)
        ear = _sstep(d, 0.02)
        rim = _sstep(d.abs() - 0.015, 0.02)
        albedo = albedo * (1 - 0.25 * rim) * (1 - 0.08 * ear)

    # nose: nostrils and a slightly redder tip
    nl, nw = idn.nose_length, idn.nose_width
    tip = torch.exp(-((x / (nw * 0.8)) ** 2 + ((y - EYE_Y - nl) / 0.05) ** 2)) * front
    albedo = albedo * (1 - 0.05 * tip) + torch.tensor([0.8, 0.4, 0.4])[:, None, None] * 0.05 * tip
    for s in (-1, 1):
        nostril = _sstep(_ellipse_sd(x, y, s * nw * 0.45, EYE_Y + nl + 0.015, nw * 0.28, 0.016), px) * front
        albedo = albedo * (1 - 0.7 * nostril)

    # eyes: sclera, iris, pupil, a catch-light, lash line (the eyelid is dynamic, see render)
    ew, eh = idn.eye_size, idn.eye_size * 0.42
    iris_c = torch.tensor(IRIS_COLOURS[idn.iris_colour])[:, None, None]
    for s in (-1, 1):
        ex = s * idn.eye_spacing
        eye = _sstep(_ellipse_sd(x, y, ex, EYE_Y, ew, eh), px) * front
        sclera = torch.tensor([0.92, 0.9, 0.87])[:, None, None]
        iris = _sstep(torch.sqrt((x - ex) ** 2 + (y - EYE_Y) ** 2) - eh * 0.95, px) * eye
        irisn = 1 + 0.25 * _smooth_noise(gen, H, W, 1)
        pupil = _sstep(torch.sqrt((x - ex) ** 2 + (y - EYE_Y) ** 2) - eh * 0.42, px) * eye
        glint = _sstep(torch.sqrt((x - ex - eh * 0.3) ** 2 + (y - EYE_Y + eh * 0.3) ** 2) - eh * 0.15, px) * eye
        lash = _sstep((_ellipse_sd(x, y, ex, EYE_Y, ew, eh)).abs() - 0.006, px) * front * (y < EYE_Y + 0.01)
        albedo = albedo * (1 - eye) + eye * sclera
        albedo = albedo * (1 - iris) + iris * iris_c * irisn
        albedo = albedo * (1 - pupil) + pupil * 0.03
        albedo = albedo * (1 - glint) + glint * 0.95
        albedo = albedo * (1 - 0.85 * lash)

    hair_c = torch.tensor(HAIR_COLOURS[idn.hair_colour])[:, None, None]
    # brows: thick strokes along the brow polyline with hair-like noise
    bl = landmarks_chart(idn, torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1))[0]
    p = torch.stack([x, y], -1)
    brow = torch.zeros(H, W)
    for sl in (slice(17, 22), slice(22, 27)):
        d = polyline_distance(p, bl[sl])
        brow = torch.maximum(brow, _sstep(d - idn.brow_thickness / 2, px * 2))
    brow = brow * front * (0.75 + 0.25 * _smooth_noise(gen, H, W, 1).clamp(-1, 1))
    brow_c = hair_c * 0.8 if idn.hair_colour != "grey" else hair_c * 0.6  # grey brows are sparser, darker
    albedo = albedo * (1 - brow) + brow * brow_c

    # facial hair
    strand = 1 + 0.35 * _smooth_noise(gen, H, W, 1)
    if idn.facial_hair != "none":
        mous = _sstep(_ellipse_sd(x, y, 0.0, MOUTH_Y - idn.lip_thickness - 0.035, idn.lip_width * 1.25, 0.04), px)
        beard = _sstep(-(y - (MOUTH_Y + 0.08)), 0.05) * _sstep(x.abs() - a * 0.8, 0.05)
        sideburn = _sstep(-(x.abs() - a * 0.75), 0.05) * _sstep(y - MOUTH_Y, 0.1)
        region = {"moustache": mous, "beard": torch.maximum(torch.maximum(mous, beard), sideburn),
                  "stubble": torch.maximum(torch.maximum(mous, beard), sideburn)}[idn.facial_hair]
        dens = 0.35 if idn.facial_hair == "stubble" else 0.9
        m = (region * front * dens * (strand.clamp(0.3, 1.5) / 1.5)).clamp(0, 1)
        albedo = albedo * (1 - m) + m * hair_c * strand

    # scalp hair: a cap above the hairline plus the back of the head; long styles reach the shoulders
    hl = -0.42 + 0.08 * (x / a) ** 2 * 2.5  # hairline dips towards the temples
    cap = _sstep(y - hl, 0.03)
    back = _sstep(z + 0.25 * c, 0.08)
    style = idn.hair_style
    if style == "bald":
        region = back * _sstep(-(y + 0.1), 0.1) * _sstep(y + 0.75, 0.05) * (1 - front * 0.5)
    elif style in ("long", "bob"):
        low = min(0.3 + idn.hair_length, 0.95)
        sides = _sstep(z - 0.15 * c, 0.08) * _sstep(y - low, 0.05)
        region = torch.maximum(torch.maximum(cap, back * _sstep(y - low, 0.05)), sides)
        fringe = _sstep(y - (-0.3 + 0.05 * torch.sin(x * 40)), 0.02) * front
        region = torch.maximum(region, fringe * (style == "bob"))
    else:
        region = torch.maximum(cap, back * _sstep(y - 0.25, 0.08))
    if style == "curly":
        curls = _smooth_noise(gen, H, W, 3)
        hair_tex = 1 + 0.35 * torch.sin(curls * 4)
        region = region * (0.9 + 0.1 * (curls > 0).float())
    else:
        streak = torch.randn(1, 1, H, W, generator=gen)
        streak = F.avg_pool2d(F.pad(streak, (0, 0, 4, 4), mode="reflect"), (9, 1), stride=1)[0, 0] * 3
        hair_tex = 1 + 0.3 * streak.clamp(-2, 2)
    region = region.clamp(0, 1)
    albedo = albedo * (1 - region) + region * hair_c * hair_tex

    # glasses: rims around the eyes, a bridge and temple arms
    if idn.glasses:
        frame_c = torch.tensor([0.08, 0.08, 0.1]) if idn.texture_seed % 2 else torch.tensor([0.45, 0.3, 0.15])
        g = torch.zeros(H, W)
        for s in (-1, 1):
            ex = s * idn.eye_spacing
            d = _ellipse_sd(x, y, ex, EYE_Y + 0.01, ew * 1.55, ew * 1.15)
            g = torch.maximum(g, _sstep(d.abs() - 0.012, px))
            arm = _sstep((y - EYE_Y + 0.02).abs() - 0.01, px) * _sstep(-(x.abs() - ex.__abs__() - ew * 1.5), px)
            g = torch.maximum(g, arm * (x * s > 0))
        bridge = _sstep((y - EYE_Y + 0.03).abs() - 0.008, px) * _sstep(x.abs() - (idn.eye_spacing - ew * 1.5), px)
        g = torch.maximum(g, bridge) * front
        albedo = albedo * (1 - g) + g * frame_c[:, None, None]

    albedo = albedo.clamp(0, 1)
    # normals: the ellipsoid normal plus a nose bump h(x, y) (n' = n - grad h, in the chart)
    n = torch.stack([x / a**2, y / b**2, z / c**2])
    n = n / n.norm(dim=0, keepdim=True)
    ny = ((y - EYE_Y) / nl).clamp(0, 1.1)
    hn = 0.09 * ny * torch.exp(-((x / (nw * (0.35 + 0.6 * ny))) ** 2)) * (y < EYE_Y + nl + 0.03) * front
    ridge = torch.exp(-(((x.abs() - idn.eye_spacing) / 0.2) ** 2 + ((y - EYE_Y + idn.brow_height) / 0.05) ** 2))
    hn = hn + 0.04 * idn.brow_ridge * ridge * front + hgt
    gy, gx = torch.gradient(hn, spacing=(2 / H, 2 * a / W * math.pi / 2))
    n = n - torch.stack([gx, gy, torch.zeros_like(gx)]) * 2.0
    n = n / n.norm(dim=0, keepdim=True)
    return albedo, n


# ----------------------------------------------------------------------------------------------------------------
# Rendering


def background(gen: torch.Generator, size: int) -> torch.Tensor:
    """A per-clip textured background [3, size, size]: a colour gradient plus stripes/checks/blobs and fine noise."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    c0, c1 = torch.rand(3, generator=gen) * 0.7 + 0.15, torch.rand(3, generator=gen) * 0.7 + 0.15
    ang = float(torch.rand(1, generator=gen)) * math.pi
    t = (xx * math.cos(ang) + yy * math.sin(ang)).clamp(0, 1)
    img = c0[:, None, None] * (1 - t) + c1[:, None, None] * t
    kind = int(torch.randint(0, 4, (1,), generator=gen))
    freq = 4 + float(torch.rand(1, generator=gen)) * 14
    if kind == 0:  # stripes
        pat = torch.sin(2 * math.pi * freq * (xx * math.sin(ang) - yy * math.cos(ang)))
    elif kind == 1:  # checks
        pat = torch.sign(torch.sin(2 * math.pi * freq * xx) * torch.sin(2 * math.pi * freq * yy))
    elif kind == 2:  # blobs
        pat = _smooth_noise(gen, size, size, max(size // 16, 1))[0].clamp(-2, 2) / 2
    else:  # shelves: rectangles
        pat = torch.sign(torch.sin(2 * math.pi * freq * 0.5 * yy)) * torch.sign(torch.sin(2 * math.pi * freq * xx + 1))
    img = img * (1 + 0.12 * pat) + 0.03 * _smooth_noise(gen, size, size, 1, 3)
    return img.clamp(0, 1)


def render(idn: Identity, albedo_tex: torch.Tensor, normal_tex: torch.Tensor, pose: torch.Tensor,
           centre: torch.Tensor, scale: float, mouth: dict[str, torch.Tensor], blink: torch.Tensor,
           bg: torch.Tensor, light: torch.Tensor, cloth: tuple[float, float, float] = (0.2, 0.25, 0.4),
           chart: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Render frames [T, 3, H, W] and landmarks [T, 68, 2] (pixels) for a pose track.

    pose [T,3] degrees; centre [T,2] pixels; scale pixels per head unit; mouth: jaw/spread/closed [T];
    blink [T]; bg [3,H,W]; light [3] unit vector towards the light (camera coordinates); cloth: shirt colour;
    chart: landmarks_chart(idn, jaw, spread, closed, blink) [T,68,2] if the caller has it already (a clip's
    frontal ground truth reuses its video's), else computed here."""
    T = pose.shape[0]
    H = bg.shape[-1]
    R = rotation(pose)  # [T,3,3]
    if chart is None:
        chart = landmarks_chart(idn, mouth["jaw"], mouth["spread"], mouth["closed"], blink)
    elif tuple(chart.shape) != (T, 68, 2):
        raise ValueError(f"render: chart has shape {tuple(chart.shape)}, expected [{T}, 68, 2] (one per frame)")
    lm3 = chart_to_surface(chart, idn)
    lm = project(lm3, R, scale, centre)

    # Only the box that can contain the head is ray-cast: the rotated ellipsoid's exact projected half-extents,
    # sqrt((R diag(a^2, b^2, c^2) R^T)_kk) for k = x, y, over all frames, plus 2 pixels.
    E = (R * torch.tensor([idn.face_width**2, 1.0, idn.face_depth**2])[None, None, :]) @ R.transpose(1, 2)
    rx = scale * float(E[:, 0, 0].max().sqrt()) + 2
    ry = scale * float(E[:, 1, 1].max().sqrt()) + 2
    bx0 = int(max(math.floor(float(centre[:, 0].min()) - rx), 0))
    by0 = int(max(math.floor(float(centre[:, 1].min()) - ry), 0))
    bx1 = int(min(math.ceil(float(centre[:, 0].max()) + rx), H))
    by1 = int(min(math.ceil(float(centre[:, 1].max()) + ry), H))
    off = torch.tensor([bx0, by0], dtype=lm.dtype)
    # A static camera (the frontal ground truth) is ray-cast and composited once; only the mouth and eye boxes
    # are redrawn per frame.
    if bool((pose == pose[:1]).all() and (centre == centre[:1]).all()):
        return _render_static(idn, albedo_tex, normal_tex, R, centre, scale, chart, lm, lm - off, blink, bg,
                              light, cloth, (bx0, by0, bx1, by1)), lm
    under = bg[None].clone()
    _neck(under, idn, centre.mean(0, keepdim=True), scale, cloth)  # the torso stays; the head moves on it
    img = under.repeat(T, 1, 1, 1)
    if bx1 <= bx0 or by1 <= by0:
        return img, lm
    frames = _frame_boxes(E, centre, scale, (bx0, by0, bx1, by1))
    if frames is not None:
        return _render_moving(idn, albedo_tex, normal_tex, R, centre, scale, chart, lm - off, blink, light, img,
                              (bx0, by0, bx1, by1), frames), lm
    alpha, px_, py_, pz_, alb, shade = _raycast(idn, albedo_tex, normal_tex, R, centre, scale, light,
                                               (bx0, by0, bx1, by1))
    # 3. dynamic mouth and eyelids, inside boxes around their projected landmarks
    _mouth(idn, alb, chart, lm - off, px_, py_, pz_, scale)
    _eyelids(idn, alb, blink, lm - off, px_, py_, pz_, scale)
    # composite face * al + crop * (1 - al), in place (the same two products and sum, bit for bit)
    al = alpha[:, None]
    face = (alb * shade).clamp_(0, 1).mul_(al)
    img[:, :, by0:by1, bx0:bx1].mul_(1 - al).add_(face)
    return img, lm


def _frame_boxes(E: torch.Tensor, centre: torch.Tensor, scale: float, box: tuple[int, int, int, int]):
    """Per-frame boxes of one size inside the clip's box `box` that each contain their frame's head (its projected
    half-extents sqrt(E_kk) plus 2 pixels, as `box` does for all frames): (ox, oy, w, h), the boxes' corners ox, oy
    (lists of T ints, relative to box) and their size; None where they would not save at least a tenth of the
    pixels (a still or nearly still head)."""
    bx0, by0, bx1, by1 = box
    ext = scale * E[:, [0, 1], [0, 1]].double().sqrt() + 2  # [T, 2] half-extents in pixels
    c = centre.double()
    lo = torch.maximum((c - ext).floor(), torch.tensor([bx0, by0], dtype=torch.float64))
    hi = torch.minimum((c + ext).ceil(), torch.tensor([bx1, by1], dtype=torch.float64))
    w, h = (int(v) for v in (hi - lo).amax(0))
    if w <= 0 or h <= 0 or w * h > 0.9 * (bx1 - bx0) * (by1 - by0):
        return None
    ox = [min(max(int(v) - bx0, 0), bx1 - bx0 - w) for v in lo[:, 0]]
    oy = [min(max(int(v) - by0, 0), by1 - by0 - h) for v in lo[:, 1]]
    return ox, oy, w, h


def _to_box(pf: torch.Tensor, ox, oy, box) -> torch.Tensor:
    """Per-frame arrays pf [T, ..., h, w] (frame t's box at (ox[t], oy[t]) of the clip's box) -> their pixels in
    the clip-box region box = (x0, y0, x1, y1), [T, ..., y1 - y0, x1 - x0], zeros outside each frame's box."""
    x0, y0, x1, y1 = box
    h, w = pf.shape[-2:]
    out = pf.new_zeros(pf.shape[:-2] + (y1 - y0, x1 - x0))
    for t, (u, v) in enumerate(zip(ox, oy)):
        a, b, c, d = max(y0, v), min(y1, v + h), max(x0, u), min(x1, u + w)
        if a < b and c < d:
            out[t, ..., a - y0:b - y0, c - x0:d - x0] = pf[t, ..., a - v:b - v, c - u:d - u]
    return out


def _from_box(pf: torch.Tensor, ox, oy, box, region: torch.Tensor) -> None:
    """Inverse of `_to_box`: write `region` back into the per-frame arrays pf (where the frames' boxes hold it)."""
    x0, y0, x1, y1 = box
    h, w = pf.shape[-2:]
    for t, (u, v) in enumerate(zip(ox, oy)):
        a, b, c, d = max(y0, v), min(y1, v + h), max(x0, u), min(x1, u + w)
        if a < b and c < d:
            pf[t, ..., a - v:b - v, c - u:d - u] = region[t, ..., a - y0:b - y0, c - x0:d - x0]


def _render_moving(idn, albedo_tex, normal_tex, R, centre, scale, chart, lmo, blink, light, img, box, frames):
    """The rest of `render` for a moving head, ray-casting each frame only in its own box (`_frame_boxes`), which
    holds every pixel of the head in that frame: the head's pixels come out exactly as if the clip's whole box were
    ray-cast (pixels outside a frame's box have alpha 0 there and keep the background), with fewer pixels to shade
    (about 15 % fewer at the default motion). The mouth and eyelids are evaluated on the same clip-box regions as
    for the whole box, so they too come out bit for bit the same."""
    bx0, by0, bx1, by1 = box
    ox, oy, w, h = frames
    alpha, px_, py_, pz_, alb, shade = _raycast(idn, albedo_tex, normal_tex, R, centre, scale, light,
                                               (bx0, by0, bx0 + w, by0 + h), offsets=(ox, oy))
    shape = (by1 - by0, bx1 - bx0)
    parts = [(_mouth, slice(48, 68), chart)] + ([(_eyelids, slice(36, 48), blink)] if float(blink.max()) > 0 else [])
    for fn, idx, arg in parts:
        if fn is _mouth:
            sub = _box(lmo, idx, 3, shape)
        else:  # the union of the two eyes' boxes
            (l0, t0, r0, b0), (l1, t1, r1, b1) = _box(lmo, slice(36, 42), 3, shape), _box(lmo, slice(42, 48), 3, shape)
            sub = (min(l0, l1), min(t0, t1), max(r0, r1), max(b0, b1))
        if sub[2] <= sub[0] or sub[3] <= sub[1]:
            continue
        region = _to_box(alb, ox, oy, sub)
        pxb, pyb, pzb = (_to_box(v, ox, oy, sub) for v in (px_, py_, pz_))
        fn(idn, region, arg, lmo - torch.tensor(sub[:2], dtype=lmo.dtype), pxb, pyb, pzb, scale)
        _from_box(alb, ox, oy, sub, region)
    # composite face * al + crop * (1 - al) frame by frame in place (the same two products and sum, bit for bit)
    al = alpha[:, None]
    face = (alb * shade).clamp_(0, 1).mul_(al)
    rest = 1 - al
    for t, (u, v) in enumerate(zip(ox, oy)):
        img[t, :, by0 + v:by0 + v + h, bx0 + u:bx0 + u + w].mul_(rest[t]).add_(face[t])
    return img


def _render_static(idn, albedo_tex, normal_tex, R, centre, scale, chart, lm, lmo, blink, bg, light, cloth, box):
    """`render` for a camera pose that does not change over the clip (same result, far less work)."""
    T = R.shape[0]
    bx0, by0, bx1, by1 = box
    under = bg[None].clone()
    _neck(under, idn, centre[:1], scale, cloth)
    if bx1 <= bx0 or by1 <= by0:
        return under.repeat(T, 1, 1, 1)
    alpha, px_, py_, pz_, alb, shade = _raycast(idn, albedo_tex, normal_tex, R[:1], centre[:1], scale, light, box)
    img1 = under.clone()
    al = alpha[:, None]
    img1[:, :, by0:by1, bx0:bx1] = (alb * shade).clamp(0, 1) * al + under[:, :, by0:by1, bx0:bx1] * (1 - al)
    img = img1.repeat(T, 1, 1, 1)  # (a copy of an expanded view is several times slower)
    parts = [("mouth", slice(48, 68))] + ([("eyes", slice(36, 48))] if float(blink.max()) > 0 else [])
    for kind, idx in parts:
        x0, y0, x1, y1 = _box(lmo, idx, 4, alb.shape[-2:])
        if x1 <= x0 or y1 <= y0:
            continue
        sub = (slice(None), slice(y0, y1), slice(x0, x1))
        a_b = alb[:, :, y0:y1, x0:x1].repeat(T, 1, 1, 1)
        pxb, pyb, pzb = (t[sub].expand(T, -1, -1) for t in (px_, py_, pz_))
        lmb = lmo - torch.tensor([x0, y0], dtype=lmo.dtype)
        if kind == "mouth":
            _mouth(idn, a_b, chart, lmb, pxb, pyb, pzb, scale)
        else:
            _eyelids(idn, a_b, blink, lmb, pxb, pyb, pzb, scale)
        ab = alpha[:, None, y0:y1, x0:x1]
        ys, xs = slice(by0 + y0, by0 + y1), slice(bx0 + x0, bx0 + x1)
        img[:, :, ys, xs] = (a_b * shade[:, :, y0:y1, x0:x1]).clamp(0, 1) * ab + under[:, :, ys, xs] * (1 - ab)
    return img


def _neck(img: torch.Tensor, idn: Identity, centre: torch.Tensor, scale: float, cloth) -> None:
    """A neck (skin, shadowed under the chin) and a shirt collar below the head, drawn in image space behind it
    at the clip's mean head position (the head turns and sways on a still torso)."""
    T, _, H, W = img.shape
    y0 = int(max(math.floor(float(centre[:, 1].min()) + 0.3 * scale), 0))
    if y0 >= H:
        _hair_mass(img, idn, centre, scale)
        return
    xs = torch.arange(W, dtype=torch.float32) + 0.5
    ys = torch.arange(y0, H, dtype=torch.float32) + 0.5
    dx = (xs[None, None, :] - centre[:, 0, None, None]) / scale  # [T,1,W]
    dy = (ys[None, :, None] - centre[:, 1, None, None]) / scale  # [T,h,1]
    half = 0.4 * idn.neck_width * idn.face_width / 0.78 + 1.6 * (dy - 1.15).clamp_min(0) ** 1.5  # into shoulders
    px = 1.0 / scale
    neck = _sstep(dx.abs() - half, px)
    skin = _skin(idn).view(1, 3, 1, 1)
    shade = (0.45 + 0.35 * (dy - 0.6).clamp(0, 1)) * (1 - 0.25 * dx.abs() / half.clamp_min(1e-3))
    shirt = _sstep(-(dy - 1.12 - 0.12 * (dx.abs() / 0.4).clamp(0, 1.5)), px)  # a V-ish collar line
    col = skin * shade[:, None] * (1 - shirt[:, None]) + torch.tensor(cloth).view(1, 3, 1, 1) * shirt[:, None] * (
        0.8 + 0.2 * torch.cos(dx * 9)[:, None])
    a = neck[:, None]
    img[:, :, y0:, :] = img[:, :, y0:, :] * (1 - a) + col * a
    _hair_mass(img, idn, centre, scale)


def _hair_mass(img: torch.Tensor, idn: Identity, centre: torch.Tensor, scale: float) -> None:
    """The hair that stands out of the skull (hair_volume) and falls below the ears (hair_length), drawn in
    image space behind the head (like the neck, once per clip at the mean head position): a volume cap around the
    head and, for longer hair, two curtains beside the neck down to 0.3 + hair_length head units below the centre.
    This is the hair silhouette that a 8x8 image still shows."""
    vol, length = idn.hair_volume, idn.hair_length
    if vol <= 0 and length <= 0:
        return
    T, _, H, W = img.shape
    a = idn.face_width
    y_end = 0.3 + length if length > 0 else 0.0
    y0 = int(max(math.floor(float(centre[:, 1].min()) - (1 + vol) * scale - 1), 0))
    y1 = int(min(math.ceil(float(centre[:, 1].max()) + (y_end + 0.1) * scale + 1), H))
    if y1 <= y0:
        return
    xs = torch.arange(W, dtype=torch.float32) + 0.5
    ys = torch.arange(y0, y1, dtype=torch.float32) + 0.5
    dx = (xs[None, None, :] - centre[:, 0, None, None]) / scale  # [T,1,W]
    dy = (ys[None, :, None] - centre[:, 1, None, None]) / scale  # [T,h,1]
    px = 1.0 / scale
    ra, rb = a + vol + 0.02, 1.0 + vol
    rc = ra + 0.06  # long hair falls wider than the skull
    cap = _sstep((torch.sqrt((dx / ra) ** 2 + ((dy + 0.03) / rb) ** 2) - 1) * ra, px)
    cap = cap * _sstep(dy - max(y_end, 0.1), 0.05)
    hair = cap
    if length > 0:
        outer = rc - 0.06 * (dy / max(y_end, 0.3)).clamp(0, 1)
        inner = 0.42 * a
        ragged = 0.04 * torch.sin(dx * 37.0)
        curtain = _sstep(dx.abs() - outer, px) * _sstep(inner - dx.abs(), px) * _sstep(dy - y_end - ragged, 2 * px)
        hair = torch.maximum(hair, curtain * (dy > 0))
    col = torch.tensor(HAIR_COLOURS[idn.hair_colour]).view(1, 3, 1, 1) * (0.8 + 0.2 * torch.sin(dx * 61.0))[:, None]
    al = hair[:, None]
    img[:, :, y0:y1, :] = img[:, :, y0:y1, :] * (1 - al) + col * al


_TEX6: list = []  # [(albedo_tex, normal_tex, their versions, the two as one [1, 6, h, w] tensor)]: the last pair


def _texture6(albedo_tex: torch.Tensor, normal_tex: torch.Tensor) -> torch.Tensor:
    """torch.cat([albedo_tex, normal_tex])[None], kept for the last pair of texture tensors (a clip's video and
    frontal ground truth are rendered from the same pair), and made afresh if either was changed in place."""
    key = (albedo_tex._version, normal_tex._version)
    last = _TEX6[0] if _TEX6 else None  # one read: another thread may replace the entry meanwhile
    if last is not None and last[0] is albedo_tex and last[1] is normal_tex and last[2] == key:
        return last[3]
    tex = torch.cat([albedo_tex, normal_tex])[None]
    _TEX6[:] = [(albedo_tex, normal_tex, key, tex)]
    return tex


def _raycast(idn, albedo_tex, normal_tex, R, centre, scale, light, box, offsets=None):
    """Steps 1, 2 and 4 of the module docstring for the pixels of `box` (x0, y0, x1, y1), or with offsets = (ox, oy)
    (T ints each) for frame t's box shifted by (ox[t], oy[t]) pixels: returns alpha [T,h,w], head-coordinate hit
    points px, py, pz [T,h,w], albedo [T,3,h,w], shading [T,1,h,w]."""
    T = R.shape[0]
    x0, y0, x1, y1 = box
    a, b, c = idn.face_width, 1.0, idn.face_depth
    # 1. rays: q = (X, Y, Z) in head units in camera space; solve q^T M q = 1 for the front Z.
    # (Written for speed with the exact floating-point operations of the plain formulas, so the pixels do not
    # change: doubling is exact, so 2 B m02 = B (2 m02) bit for bit; in-place ops round as their out-of-place forms.)
    if offsets is None:
        X = ((torch.arange(x0, x1, dtype=torch.float32) + 0.5)[None, None, :] - centre[:, 0, None, None]) / scale
        Y = ((torch.arange(y0, y1, dtype=torch.float32) + 0.5)[None, :, None] - centre[:, 1, None, None]) / scale
    else:  # pixel centres col + 0.5 are exact in float32, so each pixel's X, Y are those of the unshifted box
        cols = (torch.arange(x0, x1)[None] + torch.tensor(offsets[0])[:, None]).float()
        rows = (torch.arange(y0, y1)[None] + torch.tensor(offsets[1])[:, None]).float()
        X = ((cols + 0.5)[:, None, :] - centre[:, 0, None, None]) / scale
        Y = ((rows + 0.5)[:, :, None] - centre[:, 1, None, None]) / scale
    D = torch.tensor([1 / a**2, 1 / b**2, 1 / c**2])
    M = R @ torch.diag(D) @ R.transpose(1, 2)
    m = lambda i, j: M[:, i, j, None, None]
    A = m(2, 2)
    B = m(0, 2) * X + m(1, 2) * Y
    C = m(0, 0) * X * X + 2 * m(0, 1) * X * Y
    C += m(1, 1) * Y * Y
    C -= 1
    disc = B * B
    disc -= A * C
    Z = disc.clamp_min(0).sqrt_().sub_(B).div_(A)  # (-B + sqrt(max(disc, 0))) / A
    # silhouette distance in pixels: disc is smooth in (X, Y); d = disc / |grad disc| (first-order)
    # gx = 2 B m02 - A (2 m00 X + 2 m01 Y), gy = 2 B m12 - A (2 m11 Y + 2 m01 X)
    gx = B * (2 * m(0, 2))
    gx -= A * (2 * m(0, 0) * X + 2 * m(0, 1) * Y)
    gy = B * (2 * m(1, 2))
    gy -= A * (2 * m(1, 1) * Y + 2 * m(0, 1) * X)
    g2 = gx.mul_(gx)
    g2 += gy.mul_(gy)
    alpha = (disc * scale).mul_(g2.clamp_min_(1e-12).rsqrt_()).add_(0.5).clamp_(0, 1)  # [T,h,w]
    # head coordinates p = R^T q
    r = lambda i, j: R[:, i, j, None, None]

    def head(k):
        p = r(0, k) * X + r(1, k) * Y
        p += r(2, k) * Z
        return p

    px_, py_, pz_ = head(0), head(1), head(2)
    # 2. texture lookup by (azimuth, elevation): grid[..., 0] = az / pi, grid[..., 1] = el / (pi / 2)
    h, w = y1 - y0, x1 - x0
    grid = torch.empty(T, h, w, 2)
    torch.mul(torch.atan2(px_ / a, pz_ / c), 1 / math.pi, out=grid[..., 0])
    torch.mul(torch.asin(py_.clamp(-1, 1)), 2 / math.pi, out=grid[..., 1])  # py / b with b = 1: exact
    tex = _texture6(albedo_tex, normal_tex)
    samp = F.grid_sample(tex, grid.view(1, T * h, w, 2), mode="bilinear", padding_mode="border",
                         align_corners=False).view(6, T, h, w)
    # 4. Lambertian shading with n_cam = R n_head: (R n) . l = n . (R^T l)
    lh = (R.transpose(1, 2) @ light.view(1, 3, 1))[:, :, 0]  # light in head coordinates [T,3]
    lam = samp[3] * lh[:, 0, None, None]
    lam += samp[4] * lh[:, 1, None, None]
    lam += samp[5] * lh[:, 2, None, None]
    shade = lam.clamp_min_(0).mul_(0.68).add_(0.42)[:, None]
    return alpha, px_, py_, pz_, samp[:3].transpose(0, 1), shade


def _box(lm: torch.Tensor, idx: slice, pad: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1) around landmarks `idx` of all frames, padded, clipped to shape (h, w)."""
    pts = lm[:, idx].reshape(-1, 2)
    x0 = int(max(math.floor(float(pts[:, 0].min()) - pad), 0))
    y0 = int(max(math.floor(float(pts[:, 1].min()) - pad), 0))
    x1 = int(min(math.ceil(float(pts[:, 0].max()) + pad), shape[1]))
    y1 = int(min(math.ceil(float(pts[:, 1].max()) + pad), shape[0]))
    return x0, y0, x1, y1


OUTER_X = (-1.0, -0.6, -0.28, 0.0, 0.28, 0.6, 1.0)  # chart x of points 48..54 (and 54..59, 48) / half width
INNER_X = (-1.0, -0.45, 0.0, 0.45, 1.0)  # points 60..64 (and 64..67, 60) / inner half width


def _interp(u: torch.Tensor, knots: tuple[float, ...], *ys: torch.Tensor) -> list[torch.Tensor]:
    """Piecewise-linear y(u) through (knots[k], y[:, k]) for u [T, P] (clamped to the knot range), for each of the
    knot values ys [T, K] (one bucket search for all) -> a list of [T, P]."""
    k = torch.tensor(knots)
    uc = u.clamp(knots[0], knots[-1])
    i1 = torch.bucketize(uc, k).clamp(1, len(knots) - 1)
    i0 = i1 - 1
    t = (uc - k[i0]) / (k[i1] - k[i0])
    s = 1 - t
    return [y.gather(1, i0) * s + y.gather(1, i1) * t for y in ys]


def _mouth(idn, alb, chart, lm, px_, py_, pz_, scale):
    """Lips (outer minus inner contour), dark cavity, teeth and tongue, in the frontal chart of the head.

    The lip contours are x-monotone (upper and lower profiles through the landmarks), so inside tests are two
    piecewise-linear lookups per pixel instead of a polygon distance."""
    x0, y0, x1, y1 = _box(lm, slice(48, 68), 3, alb.shape[-2:])
    if x1 <= x0 or y1 <= y0:
        return
    sl = (slice(None), slice(y0, y1), slice(x0, x1))
    T = alb.shape[0]
    px, py = px_[sl].reshape(T, -1), py_[sl].reshape(T, -1)
    front = (pz_[sl] > 0).reshape(T, -1)
    w = 1.2 / scale
    hw = chart[:, 54, 0][:, None]
    hi = chart[:, 64, 0][:, None]
    o_up, o_lo = _interp(px / hw, OUTER_X, chart[:, 48:55, 1], chart[:, [48, 59, 58, 57, 56, 55, 54], 1])
    i_up, i_lo = _interp(px / hi, INNER_X, chart[:, 60:65, 1], chart[:, [60, 67, 66, 65, 64], 1])
    outer = torch.maximum(torch.maximum(o_up - py, py - o_lo), (px.abs() - hw) * 0.5)
    inner = torch.maximum(torch.maximum(i_up - py, py - i_lo), px.abs() - hi)
    lips = _sstep(outer, w) * front
    cav = _sstep(inner, w) * front
    lipc = torch.tensor(idn.lip_colour)[None, :, None]
    # lip texture: vertical creases
    crease = 1 + 0.06 * torch.sin(px * 180.0)[:, None]
    upper_lip_y = chart[:, 62, 1][:, None]
    lower_lip_y = chart[:, 66, 1][:, None]
    gap = (lower_lip_y - upper_lip_y).clamp_min(0)
    teeth_up = _sstep(py - (upper_lip_y + 0.035), w) * cav
    teeth_lo = _sstep(-(py - (lower_lip_y - 0.02)), w) * cav * (gap > 0.06)
    tongue = _sstep(_ellipse_sd(px, py, 0.0, lower_lip_y, idn.lip_width * 0.6, gap * 0.45 + 1e-4),
                    w) * cav
    cavc = torch.tensor([0.18, 0.05, 0.05])[None, :, None]
    teethc = torch.tensor([0.9, 0.88, 0.8])[None, :, None]
    tonguec = torch.tensor([0.62, 0.25, 0.25])[None, :, None]
    region = alb[:, :, y0:y1, x0:x1].reshape(T, 3, -1)
    region = region * (1 - lips[:, None]) + lips[:, None] * lipc * crease
    depth = (1 - 0.6 * (1 - (py - upper_lip_y).abs() / (gap + 1e-3)).clamp(0, 1))[:, None]
    region = region * (1 - cav[:, None]) + cav[:, None] * cavc * depth
    region = region * (1 - tongue[:, None]) + tongue[:, None] * tonguec
    teeth = torch.maximum(teeth_up, teeth_lo)[:, None]
    region = region * (1 - teeth) + teeth * teethc
    alb[:, :, y0:y1, x0:x1] = region.reshape(T, 3, y1 - y0, x1 - x0)


def _eyelids(idn, alb, blink, lm, px_, py_, pz_, scale):
    """Upper eyelids (skin) covering the eye from the top by the blink amount."""
    if float(blink.max()) <= 0:
        return
    skin = _skin(idn)[None, :, None, None] * 0.92
    ew, eh = idn.eye_size, idn.eye_size * 0.42
    for s, idx in ((-1, slice(36, 42)), (1, slice(42, 48))):
        x0, y0, x1, y1 = _box(lm, idx, 3, alb.shape[-2:])
        if x1 <= x0 or y1 <= y0:
            continue
        sl = (slice(None), slice(y0, y1), slice(x0, x1))
        x, y, z = px_[sl], py_[sl], pz_[sl]
        ex = s * idn.eye_spacing
        inside = _sstep(_ellipse_sd(x, y, ex, EYE_Y, ew * 1.05, eh * 1.15), 1.2 / scale) * (z > 0)
        half = eh * torch.sqrt((1 - ((x - ex) / ew) ** 2).clamp_min(0))
        lid_y = EYE_Y - half + 2 * half * blink[:, None, None]
        cover = _sstep(y - lid_y, 1.2 / scale) * inside * (blink[:, None, None] > 0)
        line = _sstep((y - lid_y).abs() - 0.006, 1.2 / scale) * inside * (blink[:, None, None] > 0.05)
        reg = alb[:, :, y0:y1, x0:x1]
        reg = reg * (1 - cover[:, None]) + cover[:, None] * skin
        reg = reg * (1 - 0.8 * line[:, None])
        alb[:, :, y0:y1, x0:x1] = reg
