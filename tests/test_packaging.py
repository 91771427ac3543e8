"""`pip install .` (a wheel, no source tree): the data files the package reads ship in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_a_wheel_holds_the_prompts_and_the_reader_it_reads(tmp_path):
    # Built from a copy: setuptools builds in the source tree (build/, *.egg-info).
    source = tmp_path / "source"
    for name in ("rag", "ui", "evals"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-w", str(tmp_path), str(source)], check=True)
    (wheel,) = tmp_path.glob("rag-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as built:
        built.extractall(site)  # what pip puts in site-packages
    code = (
        "import rag.prompts, rag.reader.model as model; "
        "print(rag.prompts.__file__); "
        "print(rag.prompts.load_prompt('refusal').format(reason='None.')); "
        "print(type(model.load_reader()).__name__)"
    )
    env = os.environ | {"PYTHONPATH": str(site)}
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    module, refusal, reader = shown.stdout.splitlines()
    assert module.startswith(str(site))  # the wheel's copy, not the checkout's
    assert refusal.startswith("The documents don't say. None.")
    assert reader == "Reader"
