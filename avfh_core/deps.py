"""The runtime dependencies, read from the installed package's metadata, and whether each one imports.

`make test` runs `python -m avfh_core.deps` first: on a new machine a package that installed but does not load (the
torchaudio 2.11.1 wheel against torch 2.11.0 fails with an undefined symbol in libtorchaudio.so) is reported by
name, with its error, before any test or notebook runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import re
import sys

DIST = "avfh"

# Distributions whose import name is not their distribution name (and not found through their metadata).
IMPORT_NAMES = {"pyyaml": "yaml", "scikit-image": "skimage", "av": "av", "ipykernel": "ipykernel"}


def runtime_requirements(dist: str = DIST) -> list[str]:
    """Names of the distributions `dist` needs at run time (its requirements without an extra marker)."""
    try:
        reqs = md.requires(dist) or []
    except md.PackageNotFoundError:
        raise RuntimeError(f"the {dist!r} package is not installed in {sys.prefix}; run `make install`") from None
    names = []
    for req in reqs:
        if "extra ==" in req:
            continue
        names.append(re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0].lower())
    return names


def import_name(dist: str) -> str:
    """The top-level module of an installed distribution (e.g. 'pyyaml' -> 'yaml')."""
    dist = dist.lower()
    if dist in IMPORT_NAMES:
        return IMPORT_NAMES[dist]
    try:
        top = md.distribution(dist).read_text("top_level.txt")
    except md.PackageNotFoundError:
        top = None
    guess = dist.replace("-", "_")
    modules = (top or "").split()
    if modules and guess not in modules:
        return modules[0]
    return guess


def import_status(dists: list[str] | None = None) -> dict[str, dict[str, str | None]]:
    """{distribution: {"module", "version", "error"}} for each runtime requirement; error is None when it imports."""
    out: dict[str, dict[str, str | None]] = {}
    for dist in dists if dists is not None else runtime_requirements():
        module = import_name(dist)
        try:
            version = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = {"module": module, "version": None, "error": "not installed"}
            continue
        try:
            importlib.import_module(module)
            error = None
        except Exception as e:  # an ImportError, or an OSError from a shared library that does not load
            error = f"{type(e).__name__}: {e}"
        out[dist] = {"module": module, "version": version, "error": error}
    return out


def main() -> int:
    status = import_status()
    bad = {d: s for d, s in status.items() if s["error"]}
    for dist, s in bad.items():
        print(f"avfh: runtime dependency {dist}=={s['version']} (import {s['module']}) does not load: {s['error']}",
              file=sys.stderr)
    if not bad:
        print(f"all {len(status)} runtime dependencies import")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
