"""The whole pipeline on one machine: `make demo` (R-RUN-1).

1. starts moto server (127.0.0.1, a free port) and deploys the component's resources into it (tools/local/deploy.py);
2. starts the local Lambda host (the four bundles in worker processes on Node 18, triggers emulated);
3. writes `cfn-outputs/flat-outputs.json`;
4. generates market data (tools/local/datagen.py), uploads the files under `incoming/` and POSTs batches to the API;
5. shows progress while the pipeline drains, then prints the summary: ticks received / rejected / stored, aggregates
   per symbol compared with an independent computation (any mismatch -> exit 1), a price chart, DLQ depth, throughput.

`--serve` keeps everything up afterwards and prints curl examples; Ctrl-C stops every process started. Every
process started is stopped on exit, whatever happens.
"""

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.local import datagen  # noqa: E402
from tools.local.client import AGGREGATE_FIELDS as FIELDS  # noqa: E402
from tools.local.client import Rows, StackClient  # noqa: E402
from tools.local.stack import LocalStack  # noqa: E402


@dataclass
class Sent:
    """What the demo sent and what the API answered."""

    files: int = 0
    file_bytes: int = 0
    batches: int = 0
    api_accepted: int = 0
    api_rejected: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    first_send: float = 0.0
    last_send: float = 0.0


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def compare(
    expected: Mapping[tuple[str, str, int], datagen.Aggregate],
    got: Mapping[tuple[str, str], Rows],
) -> list[str]:
    """Differences between reference windows and stored ones (missing, extra, or a field that differs)."""
    problems: list[str] = []
    for (sym, interval, start), ref in sorted(expected.items()):
        row = got.get((sym, interval), {}).get(start)
        if row is None:
            problems.append(f"{sym} {interval} {datagen.iso_ms(start)}: missing")
            continue
        for f in FIELDS:
            want = getattr(ref, f)
            if not _close(row.get(f), None if want is None else float(want)):
                problems.append(f"{sym} {interval} {datagen.iso_ms(start)}: {f} {row.get(f)} != {want}")
    keys = {(s, i, st) for (s, i), rows in got.items() for st in rows}
    for sym, interval, start in sorted(keys - set(expected)):
        problems.append(f"{sym} {interval} {datagen.iso_ms(start)}: unexpected window")
    return problems


def send(client: StackClient, ds: datagen.Dataset, log: Any) -> Sent:
    """Upload every file and POST every batch (and the malformed bodies); returns the counts."""
    sent = Sent(first_send=time.monotonic())
    for f in ds.files:
        client.s3.put_object(Bucket=client.bucket, Key=f.key, Body=f.body)
        sent.files += 1
        sent.file_bytes += len(f.body)
    for b in ds.batches:
        status, _h, body = client.api("POST", "/ingest", b.body, {"content-type": b.content_type})
        sent.statuses[status] = sent.statuses.get(status, 0) + 1
        sent.batches += 1
        if status == 202:
            answer = json.loads(body)
            sent.api_accepted += int(answer.get("accepted", 0))
            sent.api_rejected += len(answer.get("rejected", []))
        else:
            log(f"  POST /ingest ({b.fmt}) answered {status}: {body[:300]!r}")
    for bad in ds.malformed_bodies:
        status, _h, _b = client.api("POST", "/ingest", bad, {"content-type": "application/json"})
        sent.statuses[status] = sent.statuses.get(status, 0) + 1
    sent.last_send = time.monotonic()
    return sent


def wait_drained(
    p: StackClient,
    ds: datagen.Dataset,
    expected: Mapping[tuple[str, str, int], datagen.Aggregate],
    timeout: float,
    log: Any,
) -> tuple[bool, float, dict[tuple[str, str], Rows]]:
    """Poll (bounded by `timeout`) until every tick is stored and every aggregate matches; show progress."""
    want_ticks = {s: sum(1 for t in ds.ticks if t.symbol == s) for s in ds.symbols}
    total = sum(want_ticks.values())
    t0 = time.monotonic()
    deadline = t0 + timeout
    stored_at: float | None = None
    got: dict[tuple[str, str], Rows] = {}
    tty = sys.stdout.isatty()
    last_print = 0.0
    ok = 0
    for _ in range(100_000):
        # few reads per round: the demo's own Queries compete with the pipeline for moto (one process, 2 cores)
        stored = sum(p.count(s) for s in ds.symbols)
        depth = p.depth(p.outputs["QueueUrl"])
        now = time.monotonic()
        if stored >= total and stored_at is None:
            stored_at = now
        if stored >= total:
            got = {(s, i): p.aggregates(s, i) for s in ds.symbols for i in datagen.INTERVALS_MS}
            ok = sum(
                1 for (s, i, st), ref in expected.items() if _window_ok(ref, got.get((s, i), {}).get(st))
            )
        line = f"  [{now - t0:5.1f}s] ticks stored {stored}/{total}  queue {depth:4d}  windows ok {ok}/{len(expected)}"
        if tty:
            print("\r" + line, end="", flush=True)
        elif now - last_print >= 5:
            log(line)
            last_print = now
        if stored >= total and ok == len(expected) and not compare(expected, got) and depth == 0:
            if tty:
                print()
            return True, (stored_at or now), got
        if now > deadline:
            if tty:
                print()
            log(line)
            return False, (stored_at or now), got
        time.sleep(2.0)
    return False, time.monotonic(), got


def _f2(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _bar_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def fmt(r: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([fmt(rows[0]), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows[1:])])


def api_closes(client: StackClient, ds: datagen.Dataset) -> dict[str, list[tuple[int, float]]]:
    """1-minute closes per symbol read through the REST API (GET /symbols/{s}/aggregates, DataQuery, R-API-3)."""
    return {
        sym: sorted(
            (start, float(row["close"] or 0.0))
            for start, row in client.api_aggregates(sym, "1m", ds.start_ms, ds.end_ms + 60_000).items()
        )
        for sym in ds.symbols
    }


def chart(closes: Mapping[str, list[tuple[int, float]]], color: bool) -> str:
    """A terminal chart (plotext) of the 1-minute closes, each symbol normalised to 100 at its first window."""
    import plotext as plt

    fig = plt.figure
    fig.clear()
    fig.plot_size(100, 22)
    t0 = min((rows[0][0] for rows in closes.values() if rows), default=0)
    for sym, rows in closes.items():
        if not rows:
            continue
        base = rows[0][1] or 1.0
        xs = [(start - t0) / 60_000 for start, _ in rows]
        ys = [100 * close / base for _, close in rows]
        fig.draw(fig.signal(xs, ys).lines().label(sym))
    fig.title("1-minute closes (first = 100) via GET /symbols/{s}/aggregates")
    text: str = fig.build().string(colorless=not color)
    return text


def _window_ok(ref: datagen.Aggregate, row: Mapping[str, float | None] | None) -> bool:
    if row is None:
        return False
    return all(
        _close(row.get(f), None if getattr(ref, f) is None else float(getattr(ref, f))) for f in FIELDS
    )


def summary(
    p: StackClient,
    ds: datagen.Dataset,
    sent: Sent,
    expected: Mapping[tuple[str, str, int], datagen.Aggregate],
    got: Mapping[tuple[str, str], Rows],
    stored_at: float,
) -> list[str]:
    """Print the summary; return the problems (empty = the pipeline matches the reference)."""
    problems = compare(expected, got)
    rejected_s3 = p.rejected_lines()
    file_bad = sum(len(f.bad) for f in ds.files)
    stored = {s: p.count(s) for s in ds.symbols}
    want = {s: sum(1 for t in ds.ticks if t.symbol == s) for s in ds.symbols}
    print("\n== Summary ==")
    print(f"  sent: {sent.files} files ({sent.file_bytes / 1024:.0f} KiB, CSV/JSONL/JSON/gzip), {sent.batches} API batches "
          f"(one a duplicate delivery), {len(ds.malformed_bodies)} malformed body")  # fmt: skip
    print(f"  API answers: {dict(sorted(sent.statuses.items()))}")
    file_records = sum(len(f.ticks) + len(f.bad) for f in ds.files)
    print(f"  ticks received: {file_records - rejected_s3} via files ({file_records} records - rejected) + "
          f"{sent.api_accepted} via API (sum of the 202 answers' accepted)")  # fmt: skip
    print(f"  rejected: {rejected_s3} lines in rejected/ (sent {file_bad} bad file lines) + {sent.api_rejected} API records "
          f"(sent {sum(len(b.bad) for b in ds.batches)})")  # fmt: skip
    print(
        f"  stored: {sum(stored.values())} distinct ticks (expected {len(ds.ticks)}; duplicates stored once)"
    )
    rows = [
        [
            "symbol",
            "ticks",
            "1m ok",
            "5m ok",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "VWAP",
            "ref VWAP",
            "match",
        ]
    ]
    for s in ds.symbols:
        ref_1m = [a for k, a in expected.items() if k[0] == s and k[1] == "1m"]
        ok = {
            i: sum(
                1
                for k, a in expected.items()
                if k[0] == s and k[1] == i and _window_ok(a, got.get((s, i), {}).get(k[2]))
            )
            for i in datagen.INTERVALS_MS
        }
        n = {i: sum(1 for k in expected if k[0] == s and k[1] == i) for i in datagen.INTERVALS_MS}
        g1 = sorted(got.get((s, "1m"), {}).items())
        vol = sum((r["volume"] or 0) for _, r in g1)
        notional = sum((r["vwap"] or 0) * (r["volume"] or 0) for _, r in g1)
        ref_vol = sum(a.volume for a in ref_1m)
        ref_vwap = sum((a.vwap or 0) * a.volume for a in ref_1m) / ref_vol if ref_vol else 0
        rows.append([
            s, f"{stored[s]}/{want[s]}", f"{ok['1m']}/{n['1m']}", f"{ok['5m']}/{n['5m']}",
            _f2(g1[0][1]["open"]) if g1 else "-", _f2(max((r["high"] or 0) for _, r in g1) if g1 else None),
            _f2(min((r["low"] or 0) for _, r in g1) if g1 else None), _f2(g1[-1][1]["close"]) if g1 else "-",
            f"{vol:.0f}", _f2(notional / vol if vol else None), _f2(ref_vwap),
            "yes" if ok["1m"] == n["1m"] and ok["5m"] == n["5m"] and stored[s] == want[s] else "NO",
        ])  # fmt: skip
    print("\n" + _bar_table(rows))
    try:
        closes = api_closes(p, ds)
        n_api = sum(len(v) for v in closes.values())
        n_ref = sum(1 for k in expected if k[1] == "1m")
        if n_api != n_ref:
            problems.append(f"the API returned {n_api} 1-minute aggregates, expected {n_ref}")
        print("\n" + chart(closes, sys.stdout.isatty()))
    except Exception as e:
        problems.append(f"reading the aggregates through the API failed: {e}")
    dlq = p.depth(p.outputs["DlqUrl"])
    elapsed = max(1e-6, stored_at - sent.first_send)
    stats = p.host.stats()
    print(f"\n  DLQ depth: {dlq}")
    print(f"  throughput: {sum(stored.values())} ticks stored in {elapsed:.1f}s from the first upload = "
          f"{sum(stored.values()) / elapsed:.0f} ticks/s (moto on 2 cores is the bottleneck)")  # fmt: skip
    for fn, st in sorted(stats.items()):
        d = st.get("durationMs", {})
        print(f"  {fn:<24} invocations {st.get('invocations') or 0:5d}  errors {st.get('errors') or 0:3d}  "
              f"cold {st.get('coldStarts') or 0}  p50 {d.get('p50') or 0:.0f} ms  p95 {d.get('p95') or 0:.0f} ms")  # fmt: skip
    if stored != want:
        problems.append(f"stored ticks {stored} != expected {want}")
    if rejected_s3 != file_bad:
        problems.append(f"rejected/ holds {rejected_s3} lines, the files had {file_bad} bad lines")
    if sent.api_rejected != sum(len(b.bad) for b in ds.batches):
        problems.append(
            f"API rejected {sent.api_rejected} records, sent {sum(len(b.bad) for b in ds.batches)} bad ones"
        )
    if dlq:
        problems.append(f"{dlq} messages in the DLQ")
    return problems


def serve_forever(stack: LocalStack, ds: datagen.Dataset, outputs_file: Path) -> None:
    """Keep the stack up until Ctrl-C / SIGTERM; print curl examples."""
    out = stack.outputs
    key = stack.deployment.api_key_value if stack.deployment else ""
    api = out["ApiUrl"].rstrip("/")
    now = int(time.time() * 1000)
    print("\n== Serving (Ctrl-C stops every process started) ==")
    print(f"  flat outputs: {outputs_file}")
    print(f"  AWS endpoint (moto): {out['EndpointUrl']}   API: {api}   API key: {key}")
    print(f"""
  curl -s -X POST {api}/ingest -H 'x-api-key: {key}' -H 'content-type: application/json' \\
       -d '[{{"symbol":"AAPL","timestamp":{now},"price":190.12,"volume":100}}]'
  curl -s {api}/symbols/AAPL/latest -H 'x-api-key: {key}'
  curl -s '{api}/symbols/AAPL/aggregates?interval=1m&from={ds.start_ms}&to={ds.end_ms}' -H 'x-api-key: {key}'
  curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST {api}/ingest -d '[]'      # no API key -> 403
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url {out["EndpointUrl"]} --region us-east-1 \\
       s3 cp trades.csv s3://{out["BucketName"]}/incoming/trades.csv
""")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        if not stack.host.alive():
            print("  the Lambda host exited; stopping")
            break
    print("  stopping ...", flush=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; exit 1 when the pipeline's results differ from the reference computation."""
    ap = argparse.ArgumentParser(description="Run the market-data pipeline locally, end to end, on moto.")
    ap.add_argument("--serve", action="store_true", help="keep everything up afterwards (Ctrl-C stops)")
    ap.add_argument("--seed", type=int, default=7, help="data generator seed (same seed, same data)")
    ap.add_argument("--minutes", type=int, default=10, help="minutes of market data per symbol")
    ap.add_argument("--ticks-per-minute", type=float, default=30.0, help="trades per minute per symbol")
    ap.add_argument("--timeout", type=float, default=150.0, help="seconds to wait for the pipeline to drain")
    ap.add_argument("--schedule-ms", type=int, default=30_000, help="accelerated aggregation schedule (ms)")
    ap.add_argument("--outputs", type=Path, default=REPO / "cfn-outputs", help="where flat-outputs.json goes")
    ap.add_argument("--logs", action="store_true", help="echo the functions' logs")
    a = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, flush=True)

    t_start = time.monotonic()
    ds = datagen.generate(seed=a.seed, minutes=a.minutes, ticks_per_minute=a.ticks_per_minute)
    expected = datagen.reference_aggregates(ds.ticks)
    log(f"== Market data pipeline demo (seed {a.seed}) ==")
    log(f"  data: {len(ds.symbols)} symbols x {a.minutes} min, {len(ds.ticks)} distinct ticks, "
        f"{ds.bad_records} bad records, {len(expected)} reference windows (1m + 5m)")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="md-demo-"))
    stack = LocalStack(work, suffix="demo", schedule_every_ms=a.schedule_ms, echo_logs=a.logs)
    prev = {s: signal.getsignal(s) for s in (signal.SIGTERM,)}
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        log("  starting moto server, deploying the component's resources, starting the Lambda host ...")
        t_stack = time.monotonic()
        stack.start()
        log(f"  local stack up in {time.monotonic() - t_stack:.1f}s")
        d = stack.deployment
        assert d is not None
        log(f"  moto {stack.outputs['EndpointUrl']} (pid {stack.moto.pid}), host {stack.host.url} (pid {stack.host.pid}); "
            f"{len(d.emulated)} resources created/emulated, {len(d.not_emulated)} not emulated:")  # fmt: skip
        for typ, name, why in d.not_emulated:
            log(f"    - {typ} {name}: {why}")
        a.outputs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stack.flat_outputs_path, a.outputs / "flat-outputs.json")
        log(f"  wrote {a.outputs / 'flat-outputs.json'}")
        log("  sending data ...")
        p = StackClient.of(stack)
        sent = send(p, ds, log)
        log(f"  sent {sent.files} files and {sent.batches} API batches in {sent.last_send - sent.first_send:.1f}s; "
            "waiting for the pipeline to drain:")  # fmt: skip
        done, stored_at, got = wait_drained(p, ds, expected, a.timeout, log)
        problems = summary(p, ds, sent, expected, got, stored_at)
        if not done:
            problems.append(f"the pipeline did not drain within {a.timeout:.0f}s")
        log(f"\n  total demo time {time.monotonic() - t_start:.1f}s")
        if problems:
            log(f"\nFAILED: {len(problems)} problem(s):")
            for pr in problems[:30]:
                log(f"  - {pr}")
            log(f"  logs: {work}/host.log, {work}/moto.log")
            if not a.serve:
                return 1
        else:
            log("\nOK: stored ticks and every 1m/5m aggregate match the independent computation.")
        if a.serve:
            serve_forever(stack, ds, a.outputs / "flat-outputs.json")
        return 1 if problems else 0
    except KeyboardInterrupt:
        log("\ninterrupted")
        return 130
    finally:
        stack.stop()
        for s, h in prev.items():
            signal.signal(s, h)
        if os.environ.get("DEMO_KEEP_LOGS") != "1":
            shutil.rmtree(work, ignore_errors=True)
        log(f"  stopped every process started (pids {', '.join(str(x) for x in stack.started_pids)}).")


if __name__ == "__main__":
    raise SystemExit(main())
