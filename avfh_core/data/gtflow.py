"""Ground-truth optical flow of the synthetic world, from the renderer's geometry (no image matching).

The renderer (`face.render`) ray-casts a rigid ellipsoid head, orthographically: pixel (x, y) of frame t sees the
front point q = (X, Y, Z) of the ellipsoid p^T D p = 1 (D = diag(1/a^2, 1/b^2, 1/c^2), p = R_t^T q in head
coordinates), with X = (x - c_t,x) / s and Y = (y - c_t,y) / s for the frame's head centre c_t and scale s. The
same head point p is seen in frame u at

    x' = s (R_u p)_xy + c_u,        so the flow of frame t towards frame u is  F^{t->u}(x) = x' - x,

the displacement that backward warping (`nn.flow.flow_warp(frame_u, F^{t->u})`) needs to bring frame u onto frame
t. The background and the torso do not move (flow 0). What the flow cannot carry is marked in `valid`: a head
point that turns away from the camera in frame u (self-occlusion; the ellipsoid is convex, so a point is visible
exactly where its normal faces the camera), background that the head covers in frame u, and points that leave the
image. The mouth and eyelids also change their appearance on the moving surface (speech, blinks): the flow is the
surface's motion, which is the truth a flow network is meant to find; their change in appearance is not motion.

`RigidFlow(world, i, split)` holds a clip's geometry; `FlowItems` adds the LR flows a frame-recurrent model needs to
the items of a sequence dataset (`data.sequences`), following their augmentations (frames, reversal, flip).
SECNet's oracle-flow ablation (train/secnet.py) and the flow network's end-point error are built on it.
"""

from __future__ import annotations

import torch

from avfh_core.data.face import rotation


def flow_offsets(max_offset: int) -> tuple[int, ...]:
    """The frame offsets (-m, ..., -1, 1, ..., m) whose flows `FlowItems` provides, in their order on the K axis."""
    if not isinstance(max_offset, int) or max_offset < 1:
        raise ValueError(f"flow_offsets: max_offset must be an int >= 1, got {max_offset!r}")
    return tuple(o for o in range(-max_offset, max_offset + 1) if o)


class RigidFlow:
    """The rigid head geometry of clip i of `split` of a SynthWorld: rotations R [T,3,3], centres [T,2] (pixels),
    scale (pixels per head unit) and the ellipsoid's semi-axes, in float64. Computes nothing by rendering."""

    def __init__(self, world, i: int, split: str = "train"):
        hm = world.head_motion(i, split)
        self.R = rotation(hm["pose"].double())
        self.centre = hm["centre"].double()
        self.scale = float(hm["scale"])
        self.axes = tuple(float(v) for v in world.head_axes(i, split))
        self.size = int(world.config.image_size)
        self.num_frames = int(self.R.shape[0])
        self.D = torch.tensor([1.0 / v**2 for v in self.axes], dtype=torch.float64)

    def _frames(self, f: torch.Tensor, what: str) -> torch.Tensor:
        f = torch.as_tensor(f, dtype=torch.long).reshape(-1)
        if f.numel() and (int(f.min()) < 0 or int(f.max()) >= self.num_frames):
            raise ValueError(f"RigidFlow: {what} frames must lie in [0, {self.num_frames}), got "
                             f"[{int(f.min())}, {int(f.max())}]")
        return f

    def _front(self, t: torch.Tensor, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Head-coordinate points p [M,P,3] seen at pixels xy [P,2] of frames t [M], and inside [M,P]."""
        R = self.R[t]
        X = (xy[None, :, 0] - self.centre[t, 0, None]) / self.scale
        Y = (xy[None, :, 1] - self.centre[t, 1, None]) / self.scale
        M = R @ torch.diag(self.D) @ R.transpose(1, 2)
        m = lambda a, b: M[:, a, b, None]
        A = m(2, 2)
        B = m(0, 2) * X + m(1, 2) * Y
        C = m(0, 0) * X * X + 2 * m(0, 1) * X * Y + m(1, 1) * Y * Y - 1
        disc = B * B - A * C
        Z = (disc.clamp_min(0).sqrt() - B) / A  # the front intersection, as the renderer's
        q = torch.stack([X, Y, Z], -1)  # camera space [M,P,3]
        return q @ R, disc > 0  # p = R^T q (row vectors: q R)

    def flow(self, src, dst, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F^{src->dst} at pixel positions xy [P,2] (x, y; pixel centres at col + 0.5, as the renderer's) of frames
        src [M] towards frames dst [M]: (flow [M,P,2] in HR pixels, valid [M,P] bool, see the module docstring)."""
        src, dst = self._frames(src, "src"), self._frames(dst, "dst")
        if src.shape != dst.shape:
            raise ValueError(f"RigidFlow.flow: src and dst must have the same length, got {src.numel()} and "
                             f"{dst.numel()}")
        xy = torch.as_tensor(xy, dtype=torch.float64)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"RigidFlow.flow: xy must be [P, 2], got {tuple(xy.shape)}")
        p, inside = self._front(src, xy)
        Rd = self.R[dst]
        q2 = p @ Rd.transpose(1, 2)  # R_dst p
        moved = self.scale * q2[..., :2] + self.centre[dst, None, :]
        moving = inside & (src != dst)[:, None]  # a frame towards itself: exactly 0, not round-off
        flow = torch.where(moving[..., None], moved - xy[None], torch.zeros_like(moved))
        n_cam = (p * self.D) @ Rd.transpose(1, 2)  # R_dst D p: the outward normal in dst's camera space
        _, covered = self._front(dst, xy)  # the head covers this pixel in dst
        end = xy[None] + flow
        in_image = ((end >= 0) & (end <= self.size)).all(-1)
        valid = torch.where(inside, n_cam[..., 2] > 0, ~covered) & in_image
        return flow, valid

    def field(self, src, dst, scale: int = 1, flipped: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense flows on the pixel grid of frames downsampled x `scale` as `degrade.blur_subsample` does (LR
        pixel j sits on HR pixel scale * j + scale // 2; scale 1: the HR grid), in that grid's pixels:
        (flow [M,2,h,w], valid [M,h,w]). flipped: of the horizontally flipped frames (x -> size - x, flow_x
        negated), as `SequenceDataset` flips before degrading."""
        if not isinstance(scale, int) or scale < 1 or self.size % scale:
            raise ValueError(f"RigidFlow.field: scale must be a positive int dividing {self.size}, got {scale!r}")
        h = self.size // scale
        c = torch.arange(h, dtype=torch.float64) * scale + scale // 2 + 0.5
        x = (self.size - c) if flipped else c
        yy, xx = torch.meshgrid(c, x, indexing="ij")
        flow, valid = self.flow(src, dst, torch.stack([xx.reshape(-1), yy.reshape(-1)], -1))
        if flipped:
            flow = flow * torch.tensor([-1.0, 1.0], dtype=flow.dtype)
        m = flow.shape[0]
        return (flow / scale).reshape(m, h, h, 2).permute(0, 3, 1, 2), valid.reshape(m, h, h)


class FlowItems(torch.utils.data.Dataset):
    """Items of a sequence dataset (`SequenceDataset` or `ClipDataset` of the first clips of `split` of `world`)
    with their ground-truth LR flows added: item["flow"] [N,K,2,h,w] (float32, LR pixels) and item["flow_valid"]
    [N,K,h,w], where K runs over `flow_offsets(max_offset)` and frame t's flow for offset o is F^{t->k}, k =
    t + o clamped to the sequence (replicate padding in time, as SECNet pads its window). The flows follow the
    item's frames, reversal and flip. `scale`: the LR factor of the dataset."""

    def __init__(self, data, world, split: str, max_offset: int, scale: int):
        self.data, self.world, self.split = data, world, split
        self.offsets = torch.tensor(flow_offsets(max_offset))
        self.scale = scale
        self._motion: dict[int, RigidFlow] = {}

    def __len__(self) -> int:
        return len(self.data)

    def motion(self, clip: int) -> RigidFlow:
        if clip not in self._motion:
            self._motion[clip] = RigidFlow(self.world, clip, self.split)
        return self._motion[clip]

    def __getitem__(self, k: int) -> dict:
        item = dict(self.data[k])
        if "frames" not in item:
            raise ValueError(f"FlowItems: item {k} of {type(self.data).__name__} has no 'frames' (which clip frames "
                             "it holds): ground-truth flow needs them")
        frames = torch.as_tensor(item["frames"], dtype=torch.long)
        n, kk = frames.numel(), self.offsets.numel()
        t = torch.arange(n)
        dst = frames[(t[:, None] + self.offsets[None]).clamp(0, n - 1)]
        flow, valid = self.motion(int(item["clip"])).field(frames.repeat_interleave(kk), dst.reshape(-1),
                                                           self.scale, bool(item.get("flipped", False)))
        h = flow.shape[-1]
        item["flow"] = flow.float().reshape(n, kk, 2, h, h)
        item["flow_valid"] = valid.reshape(n, kk, h, h)
        return item


__all__ = ["FlowItems", "RigidFlow", "flow_offsets"]
