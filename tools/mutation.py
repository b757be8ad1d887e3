"""Planted bugs: a fixed set of realistic mutants, each planted alone, and which of them the fast suites catch.

`make mutation` (or `python -m tools.mutation [--only ID ...] [--list]`) copies the tracked files of the repository
into a temporary directory, then for each mutant replaces one exact snippet of product code, runs the fast suite of
that side (the handler tests under `node --test`, or pytest's unit and property tests under the Pulumi mocks), and
restores the file. A mutant is *caught* when its suite fails, *missed* when it passes. The score is caught / total.

Why a fixed list and not a generated one (StrykerJS, mutmut): a generated run over the core modules makes hundreds of
mutants, each needing a suite run of a minute or more on two cores; these mutants are the bugs that matter here (key
hashing, retries, partial batches, VWAP, open/close, window bounds, validation, pagination, body limits, IAM, timeouts,
tags, retention, lifecycle, outputs), each chosen because a real change could make it. A missed mutant is a hole in
the tests: add a test that fails on it. `tests/package/test_mutation.py` keeps every snippet applicable (it must occur
exactly once in its file), so the list cannot rot silently when the code moves.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_SUITE = ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/unit", "tests/property"]
NODE_SUITE = ["--import", "tsx", "--test", "--test-reporter=dot"]


@dataclass(frozen=True)
class Mutant:
    """One planted bug: in `path`, the snippet `find` (present exactly once) becomes `replace`."""

    id: str
    what: str
    path: str
    find: str
    replace: str

    @property
    def suite(self) -> str:
        """`node` for the handler code, `python` for the component."""
        return "node" if self.path.startswith("lib/lambda/") else "python"


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "gzip-limit",
        "R-DATA-3: the gzip output limit is 10x the body limit",
        "lib/lambda/src/core/http.ts",
        "gunzipSync(body, { maxOutputLength: maxBytes })",
        "gunzipSync(body, { maxOutputLength: maxBytes * 10 })",
    ),
    Mutant(
        "vwap-by-trades",
        "R-DATA-5: VWAP divided by the trade count",
        "lib/lambda/src/core/aggregate.ts",
        "vwap: volume > 0 ? this.pv.value() / volume : null",
        "vwap: volume > 0 ? this.pv.value() / this.trades : null",
    ),
    Mutant(
        "open-is-last",
        "R-DATA-5: open taken from the last tick",
        "lib/lambda/src/core/aggregate.ts",
        "open: this.first.price",
        "open: this.last.price",
    ),
    Mutant(
        "5m-range-1ms-late",
        "R-DATA-5: the 5-minute Query range ends 1 ms late",
        "lib/lambda/src/core/coalesce.ts",
        "return { from: u.start5m, to: u.start5m + FIVE_MINUTES };",
        "return { from: u.start5m, to: u.start5m + FIVE_MINUTES + 1 };",
    ),
    Mutant(
        "key-ignores-volume",
        "R-DATA-4: the key hash ignores the volume (distinct ticks collapse)",
        "lib/lambda/src/core/tick.ts",
        "return [t.symbol, t.ts, t.price, t.volume, t.extra ?? {}];",
        "return [t.symbol, t.ts, t.price, t.extra ?? {}];",
    ),
    Mutant(
        "unprocessed-dropped",
        "R-EVB-3: BatchWriteItem's UnprocessedItems are not retried",
        "lib/lambda/src/adapters/ddb.ts",
        "const left: WriteRequest[] = out.UnprocessedItems?.[table] ?? [];",
        "const left: WriteRequest[] = [];",
    ),
    Mutant(
        "no-bisect",
        "R-FN-4: a rejected multi-item chunk fails as a whole instead of being bisected",
        "lib/lambda/src/adapters/ddb.ts",
        "if (pending.length > 1 && shouldBisect(e)) {",
        "if (pending.length < 1 && shouldBisect(e)) {",
    ),
    Mutant(
        "partial-batch-ignored",
        "R-FN-4: failed messages are reported as processed",
        "lib/lambda/src/handlers/processor.ts",
        "if (reason !== undefined) throw new Error(reason);",
        "if (reason !== undefined) return;",
    ),
    Mutant(
        "zero-price-accepted",
        "R-DATA-1: a price of 0 is accepted",
        "lib/lambda/src/core/tick.ts",
        "if (!(price.n >= PRICE_MIN && price.n <= PRICE_MAX)) {",
        "if (!(price.n >= 0 && price.n <= PRICE_MAX)) {",
    ),
    Mutant(
        "page-token-drops-symbol",
        "R-API-3: the next-page token loses its partition",
        "lib/lambda/src/core/query.ts",
        "JSON.stringify({ symbol: { S: key.symbol.S }, timestamp: { N: key.timestamp.N } })",
        "JSON.stringify({ symbol: { S: '' }, timestamp: { N: key.timestamp.N } })",
    ),
    Mutant(
        "ingest-delete-whole-bucket",
        "R-SEC-1: DataIngestion may delete any object, not only rejected/",
        "sdk/python/market_data_pipeline/policies.py",
        '["s3:AbortMultipartUpload", "s3:DeleteObject"],\n                [f"{b}/{c.REJECTED_PREFIX}*"],',
        '["s3:AbortMultipartUpload", "s3:DeleteObject"],\n                [f"{b}/*"],',
    ),
    Mutant(
        "processor-timeout-5x",
        "R-FN-6: the processor timeout is visibility // 5 (visibility < 6 x timeout)",
        "sdk/python/market_data_pipeline/config.py",
        "self.queue_visibility_timeout_seconds // 6)",
        "self.queue_visibility_timeout_seconds // 5)",
    ),
    Mutant(
        "required-tag-conflict-ignored",
        "R-ORG-1: a user tag contradicting Environment/Project is silently ignored, not refused",
        "sdk/python/market_data_pipeline/tags.py",
        "if required is not None and v != required:",
        "if required is not None and v != required and False:",
    ),
    Mutant(
        "log-retention-from-data",
        "R-MON-1: function log groups keep data_retention_days",
        "sdk/python/market_data_pipeline/functions.py",
        "retention_in_days=cfg.log_retention_days,",
        "retention_in_days=cfg.data_retention_days,",
    ),
    Mutant(
        "noncurrent-kept",
        "R-S3-4: noncurrent versions are never expired",
        "sdk/python/market_data_pipeline/storage.py",
        '"noncurrent_version_expiration": {"noncurrent_days": c.NONCURRENT_VERSION_DAYS},',
        "",
    ),
    Mutant(
        "outputs-not-registered",
        "R-PKG-6: the component registers no outputs",
        "sdk/python/market_data_pipeline/component.py",
        "self.register_outputs(self._outputs())",
        "self.register_outputs({})",
    ),
)


def snippet_count(m: Mutant, root: Path = ROOT) -> int:
    """How often the mutant's snippet occurs in its file (1 means it can be planted)."""
    return (root / m.path).read_text(encoding="utf-8").count(m.find)


def _copy_tree(dest: Path) -> None:
    """The tracked files of the repository (with their working-tree content) into `dest`, node_modules linked."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.split(
        b"\0"
    )
    for raw in filter(None, files):
        rel = raw.decode()
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / "lib/lambda/node_modules").symlink_to(ROOT / "lib/lambda/node_modules")
    handlers = ROOT / "sdk/python/market_data_pipeline/handlers"
    if handlers.is_dir() and not (dest / "sdk/python/market_data_pipeline/handlers").exists():
        shutil.copytree(handlers, dest / "sdk/python/market_data_pipeline/handlers")


def run_suite(suite: str, tree: Path, timeout: float) -> tuple[bool, str]:
    """Run one side's fast suite in `tree`: (passed, last lines of its output)."""
    if suite == "node":
        tests = sorted(
            str(p.relative_to(tree / "lib/lambda")) for p in (tree / "lib/lambda/test").glob("*.test.ts")
        )
        cmd, cwd = ["node", *NODE_SUITE, *tests], tree / "lib/lambda"
        env = {**os.environ, "NODE_NO_WARNINGS": "1"}
    else:
        cmd, cwd = [sys.executable, *PYTHON_SUITE], tree
        env = {**os.environ, "PYTHONPATH": f"{tree / 'sdk/python'}{os.pathsep}{tree}"}
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s (counted as caught)"
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    return proc.returncode == 0, tail


def main(argv: list[str] | None = None) -> int:
    """Plant each selected mutant alone, run its suite, print caught/missed and the score; exit 1 if one is missed."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="mutant ids to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per suite run (default 900)")
    ns = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if ns.only is None or m.id in ns.only]
    if ns.only and len(chosen) != len(ns.only):
        known = ", ".join(m.id for m in MUTANTS)
        ap.error(f"unknown mutant id in {ns.only}; known: {known}")
    if ns.list:
        for m in chosen:
            print(f"{m.id:28} {m.suite:6} {m.path}: {m.what}")
        return 0
    stale = [m.id for m in chosen if snippet_count(m) != 1]
    if stale:
        print(f"these mutants no longer apply (snippet not found exactly once): {stale}", file=sys.stderr)
        return 2
    missed: list[Mutant] = []
    with tempfile.TemporaryDirectory(prefix="mdp-mutation-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        for suite in ("node", "python"):
            ok, tail = run_suite(suite, tree, ns.timeout)
            if not ok:
                print(f"the {suite} suite fails without any mutant; fix that first:\n{tail}", file=sys.stderr)
                return 2
        for i, m in enumerate(chosen, 1):
            target = tree / m.path
            original = target.read_text(encoding="utf-8")
            target.write_text(original.replace(m.find, m.replace), encoding="utf-8")
            t0 = time.monotonic()
            try:
                passed, tail = run_suite(m.suite, tree, ns.timeout)
            finally:
                target.write_text(original, encoding="utf-8")
            verdict = "MISSED" if passed else "caught"
            print(
                f"[{i}/{len(chosen)}] {verdict:6} {m.id:28} ({time.monotonic() - t0:5.0f} s) {m.what}",
                flush=True,
            )
            if passed:
                missed.append(m)
    caught = len(chosen) - len(missed)
    print(f"\nmutation score: {caught}/{len(chosen)} caught ({100 * caught / max(1, len(chosen)):.0f}%)")
    for m in missed:
        print(f"  missed: {m.id}: {m.what} ({m.path})")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
