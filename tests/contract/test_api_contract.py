"""The published API contract `docs/openapi.yaml` (issue 14): it validates, lists every status code the handlers and
the gateway can answer, and holds under schemathesis fuzzing (positive and negative generation) against the local
stack; after the fuzzing the pipeline must be healthy (every DLQ empty, no aggregator failure, the schedule's cursor
advanced) even with a window planted that cannot be aggregated (R-API-1, R-API-3, R-DATA-1, R-DATA-3, R-MON-2)."""

import json
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from market_data_pipeline import constants as c
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from tests.integration.conftest import Env
from tests.stack_helpers import wait_for
from tools.local.client import queue_depth
from tools.local.host import scheduled_event

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "openapi.yaml"
SRC = ROOT / "lib" / "lambda" / "src"
HOST = ROOT / "lib" / "lambda" / "host" / "lambda-host.mjs"

# Bounds of the fuzzing pass: examples per operation and a time budget that keep `make test` within its budget.
MAX_EXAMPLES = 60
MAX_TIME_S = 45
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"

STATUS_CALL = re.compile(r"\b(?:errorResponse|jsonResponse|QueryError|reply)\((\d{3})\b")


def spec() -> dict[str, Any]:
    """The OpenAPI document."""
    data, _url = read_from_filename(str(OPENAPI))
    return dict(data)


def documented(method: str, path: str) -> set[int]:
    """Status codes documented for one operation."""
    return {int(s) for s in spec()["paths"][path][method]["responses"]}


def codes_in(*files: Path) -> set[int]:
    """Status codes a handler's sources can answer (every errorResponse/jsonResponse/QueryError/reply call)."""
    return {int(m) for f in files for m in STATUS_CALL.findall(f.read_text())}


def test_openapi_validates() -> None:
    """docs/openapi.yaml is a valid OpenAPI 3 document (openapi-spec-validator) naming every route the API has."""
    doc = spec()
    validate(doc)
    assert set(doc["paths"]) == set(c.API_PATHS.values())


def test_every_status_code_is_documented() -> None:
    """Each status code DataIngestion, DataQuery and the gateway (the local host answers as API Gateway does) can
    answer is in the contract. Not listed on purpose: the handlers' own 404/405 for foreign routes and methods, which
    API Gateway never forwards (its MISSING_AUTHENTICATION_TOKEN response answers first)."""
    ingest = codes_in(SRC / "core" / "http.ts", SRC / "handlers" / "ingestion.ts") - {404, 405}
    assert ingest, "no status codes found in the ingestion sources"
    assert ingest <= documented("post", "/ingest"), ingest - documented("post", "/ingest")
    gets = [p for p in c.API_PATHS.values() if p != "/ingest"]
    query = codes_in(SRC / "core" / "query.ts", SRC / "handlers" / "query.ts") - {405}
    union = set().union(*(documented("get", p) for p in gets))
    assert query <= union, query - union
    rest = HOST.read_text().split("async handleRestApi", 1)[1].split("\n  isBinary", 1)[0]
    gateway = {int(m) for m in re.findall(r"json\((\d{3})", rest)} | {413, 429}
    assert {403, 502, 504} <= gateway
    for method, path in [("post", "/ingest"), *(("get", p) for p in gets)]:
        missing = (gateway - {413}) - documented(method, path)
        assert not missing, f"{method.upper()} {path} does not document gateway answers {missing}"
    assert 413 in documented("post", "/ingest")


def test_local_host_answers_as_api_gateway(env: Env) -> None:
    """Unknown paths and methods: the MISSING_AUTHENTICATION_TOKEN gateway response, with API keys (this stack)
    pulumi-aws-apigateway's 404 "404 Not found" (never the handlers' 405); no key: 403 "Forbidden"."""
    for method, path in [
        ("GET", "/nope"),
        ("DELETE", "/ingest"),
        ("GET", "/ingest"),
        ("POST", "/symbols/A/latest"),
    ]:
        status, body = env.api(method, path)
        assert (status, json.loads(body)) == (404, {"message": "404 Not found"}), (
            method,
            path,
        )
    status, body = env.api("GET", "/symbols/A/latest", with_auth=False)
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})


def test_extra_fields_kept_exactly_end_to_end(env: Env) -> None:
    """Issue 14 repro 2: extra fields named like JavaScript object internals travel API -> SQS -> DataProcessor ->
    DynamoDB (through the real AWS SDK) -> DataQuery unchanged; `.` and `..` and lone surrogates are refused."""
    extra = {
        "__proto__": {"polluted": True},
        "constructor": "c",
        "toString": -1.5,
        "hasOwnProperty": [1, "x"],
    }
    tick = {"symbol": "ZZPROTO", "timestamp": 1_700_000_000_000, "price": 1.5, "volume": 2, **extra}
    status, body = env.api_json("POST", "/ingest", [tick])
    assert status == 202, body

    def stored() -> Any:
        s, b = env.api_json("GET", "/symbols/ZZPROTO/latest")
        return b if s == 200 else None

    view = wait_for("the tick through the query API", stored, 60)
    assert {k: view[k] for k in extra} == extra, view
    raw = b'[{"symbol":"ZZPROTO","timestamp":1,"price":1,"volume":1,"note":"\\ud800"},{"symbol":".","timestamp":1,"price":1,"volume":1}]'
    status, data = env.api("POST", "/ingest", raw, {"content-type": "application/json"})
    answer = json.loads(data)
    assert status == 400, answer
    assert [r["index"] for r in answer["rejected"]] == [0, 1]
    assert "well-formed Unicode" in answer["rejected"][0]["reason"]
    assert "at least one letter or digit" in answer["rejected"][1]["reason"]


def run_schemathesis(env: Env, report: Path) -> dict[str, str]:
    """One bounded schemathesis pass (examples, coverage and fuzzing phases; positive and negative data)."""
    cmd = [
        str(Path(sys.executable).with_name("st")),
        "run",
        str(OPENAPI),
        "--url",
        env.outputs["ApiUrl"].rstrip("/"),
        "--header",
        f"x-api-key:{env.api_key}",
        "--mode",
        "all",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_TIME_S),
        "--phases",
        "examples,coverage,fuzzing",
        # one worker: CPython 3.11.7's ast.parse is not thread-safe (SystemError "AST constructor recursion depth
        # mismatch", fixed in 3.11.8), and hypothesis parses lambdas with it while schemathesis generates data
        "--workers",
        "1",
        "--seed",
        "14",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    # run in the test's temp dir: schemathesis keeps a cache (.schemathesis/) in its working directory
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=MAX_TIME_S + 240, check=False, cwd=report.parent
    )
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    assert proc.returncode == 0, f"schemathesis found contract violations:\n{proc.stdout[-8000:]}"
    return {"output": proc.stdout}


def plant_unaggregatable_window(env: Env, now_ms: int) -> tuple[str, int]:
    """Writes, bypassing ingestion, two ticks whose window volume (1.2e126) DynamoDB cannot store, and a #DIRTY marker
    naming their window (as DataProcessor would)."""
    ddb = env.client("dynamodb")
    table = env.outputs["TableName"]
    start = now_ms - now_ms % 300_000 - 600_000
    for i in (1, 2):
        ddb.put_item(
            TableName=table,
            Item={
                "symbol": {"S": "ZZPLANT"},
                "timestamp": {"N": f"{start + i}.00000000{i}"},
                "ts": {"N": str(start + i)},
                "price": {"N": "1"},
                "volume": {"N": "6e125"},
            },
        )
    ddb.put_item(
        TableName=table,
        Item={
            "symbol": {"S": "#DIRTY"},
            "timestamp": {"N": f"{now_ms}.000000014"},
            "windows": {"L": [{"S": f"ZZPLANT|{start}"}]},
        },
    )
    return "ZZPLANT", start


def test_fuzzed_contract_then_pipeline_healthy(env: Env, stack: Any, tmp_path: Path) -> None:
    """schemathesis finds no server error, no undocumented status code and no answer outside its schema; afterwards
    every DLQ is empty, the aggregator never failed, and a scheduled run with an unaggregatable window planted in the
    table (bypassing ingestion) records and skips that window and advances the #CURSOR (the aggregator's guard,
    issue 14). The ERROR it logs is one the LoggedErrors metric filter counts."""
    result = run_schemathesis(env, tmp_path / "events.ndjson")
    m = re.search(r"(\d+) generated", result["output"])
    print(f"schemathesis: {m.group(1) if m else '?'} test cases (requests) generated and checked")
    stats = stack.host.stats()
    api_calls = sum(int(s["invocations"]) for n, s in stats.items() if "Ingestion" in n or "Query" in n)
    print(f"requests that reached a function: {api_calls}")
    assert api_calls > 100, "the fuzzing pass sent too few requests to mean anything"

    sqs = env.client("sqs")
    wait_for(
        "ProcessingQueue drained", lambda: queue_depth(env.client("sqs"), env.outputs["QueueUrl"]) == 0, 120
    )
    wait_for("no function busy", lambda: all(int(s["busy"]) == 0 for s in stack.host.stats().values()), 120)

    now_ms = int(time.time() * 1000)
    symbol, start = plant_unaggregatable_window(env, now_ms)
    out = stack.host.lambda_client().invoke(
        FunctionName=env.outputs["AggregatorFunctionName"],
        Payload=json.dumps(scheduled_event("health")).encode(),
    )
    answer = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, f"the scheduled run failed: {answer}"
    assert answer["failed"] == 2 and answer["complete"] is True, answer

    ddb = env.client("dynamodb")
    table = env.outputs["TableName"]
    cursor = ddb.get_item(
        TableName=table, Key={"symbol": {"S": "#CURSOR"}, "timestamp": {"N": "0"}}, ConsistentRead=True
    )
    assert Decimal(cursor["Item"]["lastRun"]["N"]) >= now_ms, "the #CURSOR advanced past the planted window"
    failed = ddb.query(
        TableName=table,
        KeyConditionExpression="#s = :f",
        ExpressionAttributeNames={"#s": "symbol"},
        ExpressionAttributeValues={":f": {"S": "#FAILED"}},
        ConsistentRead=True,
    )["Items"]
    assert sorted(i["window"]["S"] for i in failed) == [f"{symbol}#1m|{start}", f"{symbol}#5m|{start}"], (
        failed
    )

    dlqs = [u for u in sqs.list_queues().get("QueueUrls", []) if "DLQ" in u]
    assert len(dlqs) >= 3, dlqs
    assert {u.rsplit("/", 1)[1]: queue_depth(env.client("sqs"), u) for u in dlqs} == {
        u.rsplit("/", 1)[1]: 0 for u in dlqs
    }
    agg = next(s for n, s in stack.host.stats().items() if "Aggregator" in n)
    assert int(agg["errors"]) == 0 and int(agg["asyncFailures"]) == 0, agg

    # R-MON-2: the guard's log line is one the LoggedErrors metric filter ({ $.level = "ERROR" }) counts
    field, value = re.fullmatch(r'\{ \$\.(\w+) = "(\w+)" \}', c.LOG_ERROR_PATTERN).groups()  # type: ignore[union-attr]
    lines = stack.host.function_logs(env.outputs["AggregatorFunctionName"])
    skipped = [json.loads(x) for x in lines if x.startswith("{") and "window skipped" in x]
    assert skipped and all(x.get(field) == value for x in skipped), lines[-20:]
    assert any(symbol in json.dumps(x) for x in skipped)
