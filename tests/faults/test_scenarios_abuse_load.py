"""Scenarios 5 (API abuse) and 6 (load) on the fault stack (issue 5); see test_scenarios.py for the approach."""

import gzip
import json
import threading
import time
import urllib.parse
from typing import Any

import pytest

from tests.faults.conftest import FaultStack, record_verdict
from tests.faults.test_scenarios import _csv, _jsonl, _ticks
from tools.local import datagen

pytestmark = pytest.mark.timeout(420)


# R-API-1, R-API-3, R-API-4, R-DATA-3: API abuse
def test_scenario_5_api_abuse(fault_stack: FaultStack) -> None:
    stack = fault_stack
    t0 = time.monotonic()
    base = datagen.DEFAULT_START_MS
    answers: list[tuple[str, int, int, bytes]] = []  # (what, expected status, got status, body)

    def check(what: str, want: int, got: tuple[int, dict[str, str], bytes]) -> dict[str, Any]:
        answers.append((what, want, got[0], got[2][:300]))
        try:
            body: dict[str, Any] = json.loads(got[2]) if got[2] else {}
        except ValueError:
            body = {"raw": got[2].decode(errors="replace")}
        return body

    never = _csv(
        _ticks("ABUX", base, 5, seed=51)
    )  # must never be stored: every request carrying it is refused
    jtype = {"content-type": "application/json"}
    check("no API key", 403, stack.api("POST", "/ingest", never, {"content-type": "text/csv"}, key=None))
    check(
        "wrong API key", 403, stack.api("POST", "/ingest", never, {"content-type": "text/csv"}, key="guess")
    )
    check("empty API key", 403, stack.api("POST", "/ingest", never, {"content-type": "text/csv"}, key=""))
    check("no key on a read route", 403, stack.api("GET", "/symbols/ABUX/latest", key=None))
    b = check("invalid JSON", 400, stack.api("POST", "/ingest", b'{"ticks": [ {"symbol": "ABUX", ', jtype))
    assert b.get("message"), b
    b = check("JSON of the wrong shape", 400, stack.api("POST", "/ingest", b'{"rows": 5}', jtype))
    assert b.get("message"), b
    b = check(
        "wrong content type", 400, stack.api("POST", "/ingest", never, {"content-type": "application/xml"})
    )
    assert "content type" in b.get("message", ""), b
    big = (
        b"["
        + b",".join([b'{"symbol":"ABUX","timestamp":1764001800000,"price":1,"volume":1}'] * 70_000)
        + b"]"
    )
    assert len(big) > 4 * 1024 * 1024
    check("oversize body (> 4 MiB)", 413, stack.api("POST", "/ingest", big, jtype))
    check("empty body", 400, stack.api("POST", "/ingest", b"", jtype))
    # Not a route: API Gateway's MISSING_AUTHENTICATION_TOKEN response, with API keys pulumi-aws-apigateway's 404
    # (docs/openapi.yaml); no function runs.
    check("unknown route", 404, stack.api("GET", "/admin/tables"))
    check("unknown method on /ingest", 404, stack.api("DELETE", "/ingest"))
    check("GET /ingest", 404, stack.api("GET", "/ingest"))
    check("path traversal", 404, stack.api("GET", "/../../etc/passwd"))
    injections: list[Any] = [
        "X'; DROP TABLE MarketDataState--",
        'A" OR "1"="1',
        {"$ne": None},
        "../../etc/passwd",
        "AAPL\u0000",
        "<script>alert(1)</script>",
        ["AAPL"],
    ]
    inj_body = [{"symbol": s, "timestamp": base, "price": 1.5, "volume": 1} for s in injections]
    inj_ok = _ticks("ABUC", base, 1, seed=52)[0]
    inj_body.append(inj_ok.as_json())
    b = check(
        "injection strings as symbols (+1 good tick)",
        202,
        stack.api("POST", "/ingest", json.dumps(inj_body).encode(), jtype),
    )
    assert b.get("accepted") == 1, b
    assert sorted(r["index"] for r in b.get("rejected", [])) == list(range(len(injections))), b
    assert all("symbol" in r["reason"] for r in b["rejected"]), b
    b = check(
        "only injection strings", 400, stack.api("POST", "/ingest", json.dumps(inj_body[:-1]).encode(), jtype)
    )
    for s in ("X'; DROP TABLE MarketDataState--", 'A" OR "1"="1', "*", "%00"):
        check(
            f"GET latest of {s!r}", 400, stack.api("GET", f"/symbols/{urllib.parse.quote(s, safe='')}/latest")
        )
    check(
        "GET ticks with an injected range",
        400,
        stack.api("GET", "/symbols/ABUC/ticks?from=1%20OR%201%3D1&to=2"),
    )
    check(
        "GET aggregates with an unknown interval",
        400,
        stack.api("GET", "/symbols/ABUC/aggregates?interval=1m%27--"),
    )

    # 10,000 ticks in one request: all accepted, all stored once, aggregates exact
    flood = _ticks("ABUF", base, 10_000, seed=53, gap_ms=60)
    body = json.dumps([t.as_json() for t in flood]).encode()
    b = check("10,000 ticks in one request", 202, stack.api("POST", "/ingest", body, jtype))
    assert b.get("accepted") == 10_000 and not b.get("rejected"), {
        k: v for k, v in b.items() if k != "rejected"
    }
    verdict = stack.settle([*flood, inj_ok], timeout=150)
    status, _h, latest = stack.api("GET", "/symbols/ABUC/latest")
    wrong = [(w, want, got, body) for w, want, got, body in answers if got != want]
    record_verdict(
        "API abuse",
        len(answers) - 1,
        verdict,
        time.monotonic() - t0,
        f"{len(answers) - len(wrong)}/{len(answers)} requests answered as expected "
        f"({', '.join(sorted({str(a[2]) for a in answers}))}); 10,000-tick request stored exactly",
    )
    assert wrong == [], wrong
    assert all(got < 500 for _w, _want, got, _b in answers)
    assert verdict.ok, verdict.summary()
    assert stack.count("ABUX") == 0  # nothing from a refused request was stored
    assert status == 200 and json.loads(latest), latest  # the table still answers for the good symbol


def _figures(xs: list[float]) -> str:
    if not xs:
        return "-"
    s = sorted(xs)
    return f"p50 {s[len(s) // 2] * 1000:.0f} ms, p95 {s[min(len(s) - 1, int(len(s) * 0.95))] * 1000:.0f} ms"


# R-EVB-3, R-DATA-4: N concurrent producers (files and API) for a bounded time; the pipeline drains, nothing lost
def test_scenario_6_load(fault_stack: FaultStack) -> None:
    stack = fault_stack
    seconds, max_rounds = 8.0, 15
    file_ticks, api_ticks = 100, 150
    producers = [("file", "LDFA"), ("file", "LDFB"), ("api", "LDAA"), ("api", "LDAB")]
    sent: dict[str, list[datagen.Tick]] = {sym: [] for _k, sym in producers}
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def produce(kind: str, symbol: str, seed: int) -> None:
        start = datagen.DEFAULT_START_MS
        for r in range(max_rounds):  # bounded in count and in time
            if time.monotonic() > stop_at:
                return
            n = file_ticks if kind == "file" else api_ticks
            ticks = _ticks(symbol, start + r * n * 40, n, seed=seed * 1000 + r, gap_ms=40)
            try:
                if kind == "file":
                    fmt = r % 3
                    body = _csv(ticks) if fmt == 0 else _jsonl(ticks)
                    name = f"incoming/load/{symbol}/{r:04d}." + ("csv" if fmt == 0 else "jsonl")
                    if fmt == 2:
                        body, name = gzip.compress(body, mtime=0), name + ".gz"
                    stack.upload(name, body)
                else:
                    t = time.monotonic()
                    status, answer = stack.post_ingest(
                        json.dumps([x.as_json() for x in ticks]).encode(), "application/json"
                    )
                    with lock:
                        latencies.append(time.monotonic() - t)
                    if status != 202 or answer.get("accepted") != n:
                        with lock:
                            failures.append(f"{symbol} round {r}: {status} {str(answer)[:200]}")
                        continue
            except Exception as e:  # recorded and failed below, with the producer and round
                with lock:
                    failures.append(f"{symbol} round {r}: {type(e).__name__}: {e}")
                continue
            with lock:
                sent[symbol] += ticks

    fn = stack.outputs["ProcessorFunctionName"]
    before = stack.host.stats()[fn]
    t0 = time.monotonic()
    threads = [
        threading.Thread(target=produce, args=(k, s, i), daemon=True) for i, (k, s) in enumerate(producers)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=seconds + 120)
    send_s = time.monotonic() - t0
    assert not any(th.is_alive() for th in threads), "a producer did not finish"
    all_ticks = [t for ticks in sent.values() for t in ticks]
    verdict = stack.settle(all_ticks, timeout=180)
    total_s = time.monotonic() - t0
    after = stack.host.stats()[fn]
    files = sum(len(v) for k, v in sent.items() if k.startswith("LDF")) // file_ticks
    requests = sum(len(v) for k, v in sent.items() if k.startswith("LDA")) // api_ticks
    record_verdict(
        "load",
        len(all_ticks),
        verdict,
        total_s,
        f"{len(producers)} producers x {send_s:.1f}s: {files} files + {requests} API requests, {len(all_ticks)} ticks "
        f"({len(all_ticks) / send_s:.0f}/s sent); drained in {total_s - send_s:.1f}s, "
        f"{len(all_ticks) / total_s:.0f} ticks/s end to end; API {_figures(latencies)}; "
        f"processor invocations {after['invocations'] - before['invocations']}",
    )
    assert failures == [], failures[:10]
    assert len(all_ticks) > 0
    assert verdict.ok, verdict.summary()
    assert stack.depth(stack.outputs["DlqUrl"]) == 0
