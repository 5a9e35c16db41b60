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


def test_metadata_is_honest(wheel):
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # setuptools 76.1.0 rejects an SPDX `license` string; 77.0.3 accepts it.
    assert "setuptools>=77.0.3" in pyproject["build-system"]["requires"]
    assert pyproject["project"]["license"] == "BSD-3-Clause"
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: BSD-3-Clause" in text
    licence = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause License" in licence and "CC BY 4.0" in licence
