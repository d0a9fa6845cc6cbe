"""The explorer's third-party browser libraries: which files, copied from node_modules at build.

The repository holds no copy of them: ``make setup`` and the Azure package hook run
``python -m dataops.explorer.vendor`` to copy the pinned dist files (package.json /
package-lock.json) and their licences into ``dataops/explorer/static/vendor/`` (gitignored, but
inside the app, so the deployed package carries them and pages work with no internet). A page
whose libraries are missing is answered 503 naming this command.

Only the standard library here: the package hook runs it with whatever Python runs azd.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

__all__ = ["VENDOR_DIR", "VENDOR_FILES", "copy_vendor_files", "missing_vendor_files"]

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
# Served name -> file under node_modules. cytoscape-dagre's dist bundles its own dagre.
VENDOR_FILES: dict[str, str] = {
    "leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet.LICENSE.txt": "leaflet/LICENSE",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
    "uplot.LICENSE.txt": "uplot/LICENSE",
    "cytoscape.min.js": "cytoscape/dist/cytoscape.min.js",
    "cytoscape.LICENSE.txt": "cytoscape/LICENSE",
    "cytoscape-dagre.js": "cytoscape-dagre/dist/cytoscape-dagre.js",
    "cytoscape-dagre.LICENSE.txt": "cytoscape-dagre/LICENSE",
}
BUILD_COMMAND = "python -m dataops.explorer.vendor"


def missing_vendor_files(directory: Path = VENDOR_DIR) -> list[str]:
    """Served names whose file is not in ``directory`` (empty: the explorer can run)."""
    return [name for name in VENDOR_FILES if not (directory / name).is_file()]


def copy_vendor_files(node_modules: Path, directory: Path = VENDOR_DIR) -> list[Path]:
    """Copy every vendor file from ``node_modules``; FileNotFoundError naming what is missing."""
    absent = [source for source in VENDOR_FILES.values() if not (node_modules / source).is_file()]
    if absent:
        raise FileNotFoundError(f"{node_modules}: missing {', '.join(absent)} (run `npm ci` first)")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, source in VENDOR_FILES.items():
        target = directory / name
        shutil.copyfile(node_modules / source, target)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    """``python -m dataops.explorer.vendor [NODE_MODULES]`` (default ./node_modules)."""
    node_modules = Path(argv[0]) if argv else Path("node_modules")
    try:
        written = copy_vendor_files(node_modules.resolve())
    except FileNotFoundError as err:
        sys.stderr.write(f"explorer libraries not copied: {err}\n")
        return 1
    sys.stdout.write(f"explorer libraries: {len(written)} files in {VENDOR_DIR}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
