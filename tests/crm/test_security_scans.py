"""Static scans that run with the suite: bandit finds no medium or high issue in our code."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bandit_finds_no_medium_or_high_issue():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bandit",
            "-q",
            "-r",
            "crm",
            "customers",
            "loyalty",
            "outreach",
            "-x",
            "*/migrations/*",
            "--severity-level",
            "medium",
            "--confidence-level",
            "medium",
            "-f",
            "txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
