"""The package installs with pip and imports from any folder, data included."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build course_utils' wheel from this checkout, as `pip install .` does."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--no-build-isolation", "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (found,) = out.glob("course_utils-*.whl")
    return found


def test_wheel_holds_every_module_and_the_manifest(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "course_utils").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources <= names, f"missing from the wheel: {sorted(sources - names)}"
    manifests = {
        "course_utils/data_manifest/" + p.name for p in (ROOT / "data_manifest").glob("*.json")
    }
    assert manifests <= names, f"missing from the wheel: {sorted(manifests - names)}"


def test_installed_package_imports_from_another_folder(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-c",
         "import course_utils; from course_utils import show_image; print(course_utils.__file__)"],
        cwd=elsewhere, env=env, check=True, capture_output=True, text=True,
    )
    assert Path(result.stdout.strip()).is_relative_to(target)
