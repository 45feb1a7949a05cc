"""Isolated randomness: every network is initialised from its own random stream, derived from (seed, name).

PyTorch modules draw their initial weights from the global RNG, so building one network moves the weights of
every network built after it. In an experiment that is a bug: the discriminator of a Table 2 row would start from
other weights when the row also builds (or, on a cold cache, trains) a lip reader first. Here a network named
`name` in a run with seed `seed` is built inside `seeded(seed, name)`:

    with seeded(seed, "discriminator"):
        disc = PatchDiscriminator(...)

which seeds torch's CPU generator from `module_seed(seed, name)` (a stable hash, the same on every machine and
Python version) for the block, then restores the caller's RNG state: what happens inside never moves the caller's
random numbers, and what happened before never moves the weights built inside.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

T = TypeVar("T")


def module_seed(seed: int, name: str) -> int:
    """A 63-bit seed for the network `name` of a run with seed `seed`: sha256 of "<seed>/<name>"."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"module_seed: seed must be a non-negative int, got {seed!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"module_seed: name must be a non-empty string, got {name!r}")
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def module_generator(seed: int, name: str) -> torch.Generator:
    """A CPU `torch.Generator` seeded with `module_seed(seed, name)` (for explicit draws: batches, augmentation)."""
    return torch.Generator().manual_seed(module_seed(seed, name))


@contextlib.contextmanager
def seeded(seed: int, name: str) -> Iterator[None]:
    """Run the block with torch's global CPU RNG seeded from (seed, name); restore the caller's state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(module_seed(seed, name))
        yield


def build(seed: int, name: str, factory: Callable[[], T]) -> T:
    """`factory()` called inside `seeded(seed, name)`: a network with its own initial weights."""
    with seeded(seed, name):
        return factory()


__all__ = ["build", "module_generator", "module_seed", "seeded"]
