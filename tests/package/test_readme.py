"""README.md stays true (R-RUN-1): its configuration reference is the component's schema, its Makefile table is the
Makefile's help, and it gives the two commands."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_generated_blocks_match_schema_and_makefile() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_readme.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_readme_gives_the_two_commands_r_run_1() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
