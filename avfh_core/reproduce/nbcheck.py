"""Prepare the nbval check: committed reference notebooks, re-parameterised for a CI preset.

The committed `.ipynb` files hold reference outputs from the course preset. For CI we want every notebook executed
under the `smoke` preset and its *preset-independent* cells (tagged `nbval-check-output`) compared with those
references. Papermill injects the preset into a copy of each reference notebook (keeping its outputs); nbval then
executes the copy in `--nbval-lax` mode, where only tagged cells are compared (after `.nbval_sanitize.cfg`):

    python -m avfh_core.reproduce.nbcheck --preset smoke --out runs/nbval
    pytest --nbval-lax --nbval-kernel-name avfh --sanitize-with .nbval_sanitize.cfg runs/nbval
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import nbformat

from avfh_core.reproduce.runner import KERNEL_NAME, check_parameters, discover_notebooks, notebooks_dir


def prepare(preset: str, out_dir: Path, root: Path | None = None) -> list[Path]:
    """Write a `preset`-parameterised copy of every reference notebook to out_dir (mirroring notebooks/)."""
    from papermill.parameterize import parameterize_notebook

    root = root or notebooks_dir()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    for src in discover_notebooks(root):
        ref = src.with_suffix(".ipynb")
        if not ref.exists():
            raise FileNotFoundError(f"{ref}: reference notebook missing (run `jupytext --sync {src}`)")
        nb = nbformat.read(ref, as_version=4)
        check_parameters(nb, {"preset": preset}, str(ref))
        nb.metadata.setdefault("papermill", {})  # papermill records the injected parameters here
        for cell in nb.cells:  # and expects every cell to carry a tags list
            cell.metadata.setdefault("tags", [])
        nb = parameterize_notebook(nb, {"preset": preset}, kernel_name=KERNEL_NAME, language="python")
        nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python (avfh)", "language": "python"}
        target = out_dir / src.relative_to(root).with_suffix(".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        # notebooks read files relative to their folder (e.g. the tour reads its own source)
        for sibling in src.parent.glob("*.py"):
            shutil.copy2(sibling, target.parent / sibling.name)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    paths = prepare(args.preset, args.out)
    print(f"{len(paths)} notebooks parameterised with preset={args.preset} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
