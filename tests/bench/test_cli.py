"""`make bench` / `make bench-design-rate`'s command line (bench/run.py `build_parser`, `sizes_from_args`), without
measuring: what `--design-rate` runs (issue 10's goals are judged at that volume) and the flags it refuses."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from bench import cost
from bench.run import (
    DESIGN_RATE_ARGS,
    Sizes,
    build_parser,
    design_ticks_per_second,
    sizes_from_args,
    stream_specs,
)
from bench.stream import KINDS

REPO = Path(__file__).resolve().parents[2]


def _sizes(*argv: str) -> tuple[Sizes, list[str]]:
    ap = build_parser()
    return sizes_from_args(ap, ap.parse_args(list(argv)))


@pytest.mark.parametrize("kind", KINDS)
def test_design_rate_runs_one_aligned_1000_symbol_stream_at_the_design_rate(kind: str) -> None:
    """R-PERF-1 (issue 10): `--design-rate` = part 6 alone, one 1,000-symbol stream of the kind, at 5M ticks a
    6.5 h day, for 300 s from a 5-minute boundary (a full (symbol, 5-minute) group)."""
    s, parts = _sizes("--design-rate", "--stream-kinds", kind)
    assert parts == ["stream"]
    (spec,) = stream_specs(s, design_ticks_per_second())
    assert (spec.kind, spec.symbols) == (kind, 1000)
    assert spec.ticks_per_second == pytest.approx(5_000_000 / (6.5 * 3600), abs=0.05)
    assert spec.ticks_per_second == round(cost.design_rate(cost.load_prices()), 1)
    assert s.stream_align is True
    assert s.stream_seconds == 300
    # the same sizes as the preset spelt out, so DESIGN_RATE_ARGS is what the help text says it runs
    assert _sizes(*DESIGN_RATE_ARGS, "--stream-kinds", kind) == (s, parts)


def test_default_streams_are_the_six_10_ticks_a_second_streams() -> None:
    s, parts = _sizes()
    assert "stream" in parts
    specs = stream_specs(s, design_ticks_per_second())
    assert sorted((x.kind, x.symbols, x.ticks_per_second) for x in specs) == sorted(
        (k, n, 10.0) for k in KINDS for n in (10, 100, 1000)
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--design-rate"], r"--design-rate needs --stream-kinds naming one kind \(api or file\).*got None"),
        (["--design-rate", "--stream-kinds", "api,file"], r"naming one kind .*got 'api,file'"),
        (
            ["--design-rate", "--stream-kinds", "api", "--stream-symbols", "100"],
            r"--design-rate sets --stream-symbols",
        ),
        (
            ["--design-rate", "--stream-kinds", "api", "--parts", "stream"],
            r"--design-rate sets --parts itself",
        ),
        (
            ["--design-rate", "--stream-kinds", "file", "--stream-seconds", "180"],
            r"--design-rate sets --stream-seconds itself",
        ),
    ],
)
def test_design_rate_refuses_what_it_would_silently_override(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        _sizes(*argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err


def test_make_bench_design_rate_runs_the_preset_per_kind() -> None:
    """The Makefile's `bench-design-rate` (README's target table) runs `bench.run --design-rate` once per kind, each
    into its own results file; its command lines parse to the preset (checked with `make -n`, nothing measured)."""
    out = subprocess.run(
        ["make", "-n", "bench-design-rate", "KINDS=file api"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    loop = next(line for line in out.splitlines() if "bench.run" in line)
    kinds = re.search(r"for k in ([a-z ]+); do", out)
    assert kinds and kinds.group(1).split() == ["file", "api"]
    for kind in ("file", "api"):
        argv = shlex.split(loop.replace("$k", kind).split("bench.run", 1)[1].split("||")[0])
        assert argv[argv.index("--out") + 1] == f"bench/results-design-rate-{kind}.json"
        s, parts = _sizes(*[a for i, a in enumerate(argv) if a != "--out" and argv[i - 1] != "--out"])
        assert _sizes("--design-rate", "--stream-kinds", kind) == (s, parts)
