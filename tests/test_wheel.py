"""Build a wheel from this checkout, install it in a new virtual environment, run it.

This proves that the rules ship inside the wheel and are found there, away from the source
tree. The new environment reuses the installed dependencies (click, regex, rich) through
--system-site-packages, so the test needs no package index.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    if built.returncode != 0:
        pytest.fail(f"wheel build failed:\n{built.stderr}")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    wheel = next(dist.glob("nsslog-*.whl"))
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    return venv, base


def test_wheel_contains_rules(wheel_env):
    venv, base = wheel_env
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import nsslog, nsslog.rules as r; print(nsslog.__file__); print(r.builtin_rules_dir())"],
        capture_output=True, text=True, cwd=base, timeout=60,
    )
    module_file, rules_dir = result.stdout.split()

    assert str(venv) in module_file
    assert str(venv) in rules_dir
    assert any(Path(rules_dir).glob("nss-renegotiation-refused.toml"))


def test_wheel_runs_on_sample(wheel_env):
    venv, base = wheel_env
    result = subprocess.run(
        [str(venv / "bin" / "nsslog"), "--format", "json", str(ROOT / "examples" / "error_log")],
        capture_output=True, text=True, cwd=base, timeout=60,
    )
    rules = {finding["rule"] for finding in json.loads(result.stdout)["findings"]}

    assert result.returncode == 1
    assert "nss-renegotiation-refused" in rules
