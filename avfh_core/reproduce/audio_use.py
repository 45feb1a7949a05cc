"""Audio use of a trained row, seed by seed, in the shape the audit and the report read.

`train.evaluate.audio_use` asks one trained model whether it reads its audio (its own audio, another clip's, none)
and answers {condition: {metric: mean}}. A row is trained on several seeds, and a sidecar (or a saved batch) keeps
one value per seed: {condition: {metric: [seed 0, seed 1, ...]}}. This module does that gathering once, for any
paper of the contract (`eval_set`, `predict`, `score`), so that notebooks and benchmarks do not each transpose the
results by hand.

Evaluation only: the trained runs come from the run cache (`train.experiment.cached_run`), and this module is
outside the training cache keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

PerSeed = dict[str, dict[str, list[float]]]


def by_condition(per_seed: Sequence[Mapping[str, Mapping[str, float]]]) -> PerSeed:
    """[{condition: {metric: value}} per seed] -> {condition: {metric: [value per seed]}}. Every seed must report
    the same conditions and metrics (a mismatch is an error naming the seed, not a silently short list)."""
    if not per_seed:
        raise ValueError("by_condition: no seeds to gather")
    first = {c: sorted(m) for c, m in per_seed[0].items()}
    for i, result in enumerate(per_seed[1:], 1):
        got = {c: sorted(m) for c, m in result.items()}
        if got != first:
            raise ValueError(f"by_condition: seed {i} reports {got}, seed 0 reports {first}")
    return {c: {m: [float(r[c][m]) for r in per_seed] for m in per_seed[0][c]} for c in per_seed[0]}


def audio_use_seeds(paper: ModuleType, run: Any, cfg, seed_list: Sequence[int], *,
                    data: tuple[Any, Sequence[int]] | None = None, **kwargs) -> PerSeed:
    """`train.evaluate.audio_use` of `run`'s trained model for each seed in `seed_list` (each seed shuffles the
    audio with its own derangement, as the notebooks always have), gathered per seed. data = (dataset, indices):
    the items to score (default: the run's evaluation set, `paper.eval_set`, i.e. held-out people; pass the
    training people's items to tell a model that never learned to read its audio from one that learned it on the
    people it saw and does not carry it over). kwargs go to `audio_use` (audio_key, silence, batch_size)."""
    from avfh_core.train.evaluate import audio_use
    from avfh_core.train.experiment import cached_run

    seed_list = list(seed_list)
    if not seed_list:
        raise ValueError(f"audio_use_seeds: no seeds for {getattr(paper, 'PAPER', paper.__name__)} run {run!r}")
    data, indices = paper.eval_set(run, cfg) if data is None else data
    return by_condition([audio_use(paper.predict, paper.score, cached_run(paper, run, cfg, s)[1].models, data,
                                   indices, cfg, seed=s, **kwargs) for s in seed_list])


def condition_means(use: Mapping[str, Mapping[str, Sequence[float]]], metric: str) -> dict[str, float]:
    """{condition: mean over seeds of `metric`} of a per-seed audio use (`by_condition`'s shape)."""
    out = {}
    for c, metrics in use.items():
        if metric not in metrics:
            raise KeyError(f"condition_means: condition {c!r} has no {metric!r} (it has {sorted(metrics)})")
        values = list(metrics[metric])
        if not values:
            raise ValueError(f"condition_means: condition {c!r} has no seeds for {metric!r}")
        out[c] = sum(values) / len(values)
    return out


def use_line(use: Mapping[str, Mapping[str, Sequence[float]]], metric: str = "mouth_psnr") -> str:
    """'intact 26.304, shuffled 24.416, silenced 25.116': the seed mean of `metric` under each condition."""
    return ", ".join(f"{c} {v:.3f}" for c, v in condition_means(use, metric).items())
