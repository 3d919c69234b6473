"""Point the pip ROS 2 wheels' exported CMake include dirs at this venv (idempotent).

The `ros-jazzy-*` wheels were built in a manylinux container and their
`share/*/cmake/export_*__rosidl_generator_pyExport.cmake` files hard-code that container's Python
and numpy include dirs (`/opt/python/cp311-cp311/...`); CMake's generate step fails on paths that
do not exist. This rewrites them to the running interpreter's include dir and `numpy.get_include()`.
Run it with the venv's Python after every pip install of ROS packages (`make ros` does).
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# Container paths as the wheels write them: Python headers, then numpy's.
PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_core|core)/include"
)


def fix(prefix: Path) -> list[Path]:
    """Rewrite the container include dirs in every exported CMake file under `prefix`; returns
    the files changed (none on a second run)."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = []
    for path in sorted(prefix.glob("share/*/cmake/*.cmake")):
        text = path.read_text(encoding="utf-8")
        new = PYTHON_INCLUDE.sub(python_include, NUMPY_INCLUDE.sub(numpy_include, text))
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main() -> int:
    """Fix the venv this interpreter runs in; say how many files changed."""
    prefix = Path(sys.prefix)
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        print(f"fix_pip_ros: no Python.h in {include} (Debian: python3.11-dev)", file=sys.stderr)
        return 1
    changed = fix(prefix)
    print(f"fix_pip_ros: {len(changed)} CMake file(s) fixed under {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
