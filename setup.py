"""Packaging hook: ship the top-level static/ and templates/ inside the package.

The repository keeps the browser client and the page templates at the top level (where
front-end tooling and reviewers expect them); the wheel carries them as
``interactive_gym_p2p/static`` and ``interactive_gym_p2p/templates`` so an installed copy
finds them next to its own modules (see ``interactive_gym_p2p.resources``).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ASSET_DIRS = ("static", "templates")
# Never ship local installs or caches that may sit inside the asset folders.
IGNORE = shutil.ignore_patterns("node_modules", "__pycache__", "*.pyc", ".DS_Store")


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for name in ASSET_DIRS:
            src = root / name
            if not src.is_dir():
                raise FileNotFoundError(f"asset folder {src} is missing; the wheel needs it")
            dst = Path(self.build_lib) / "interactive_gym_p2p" / name
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=IGNORE)


setup(cmdclass={"build_py": BuildPyWithAssets})
