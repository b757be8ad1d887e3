"""The local host config and the flat outputs of a translated deployment.

`host_config()` turns what the translators collected (`DeployContext`) into the local Lambda host's config (format:
lib/lambda/host/README.md); `flat_outputs()` gives the stack outputs under the component's own stable keys
(`STACK_OUTPUT_KEYS`, docs/design.md "Stack outputs"), their values rewritten to the local ones.
"""

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from market_data_pipeline import COMPONENT_TOKEN, STACK_OUTPUT_KEYS

from tools.local.mocks import ACCOUNT, REGION
from tools.local.recording import Recorded
from tools.local.translators import DeployContext, DeployError

API_URL_KEY = "ApiUrl"
"""The stack output the local host serves (set by `tools.local.stack.LocalStack` once the host listens)."""
ENDPOINT_URL_KEY = "EndpointUrl"
"""The extra flat output of a local stack: the AWS endpoint (moto) the clients talk to."""


def schedule_ms(expression: str) -> int:
    """`rate(5 minutes)` -> 300000. A cron expression runs every minute locally (documented, not exact)."""
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if m:
        unit = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}[m.group(2).rstrip("s")]
        return int(m.group(1)) * unit
    if expression.strip().startswith("cron("):
        return 60_000
    raise DeployError(f"schedule expression {expression!r}: allowed rate(N minutes|hours|days) or cron(...)")


def _queue_url_of_arn(c: DeployContext, arn: str | None) -> str | None:
    if not arn:
        return None
    arn = str(c.local(arn))
    if not arn.startswith("arn:aws:sqs:"):
        raise DeployError(f"async failure destination {arn!r}: only SQS destinations are emulated locally")
    return c.queue_url(arn)


def host_config(c: DeployContext, local_concurrency: int) -> dict[str, Any]:
    """The host config of a translated deployment; each function runs at most `local_concurrency` at once."""
    fns: dict[str, Any] = {}
    esm_conc = {s["function"]: s.get("maximumConcurrency") for s in c.event_sources if s["type"] == "sqs"}
    for f in c.functions.values():
        ac = c.async_config.get(f["name"]) or {}
        retries = ac.get("maximumRetryAttempts")
        on_failure = _queue_url_of_arn(c, ac.get("onFailure") or f["deadLetterTarget"])
        wanted = esm_conc.get(f["name"]) or f["reservedConcurrency"] or local_concurrency
        fns[f["name"]] = {
            "file": f["file"],
            "timeout": f["timeout"],
            "memory": f["memory"],
            "concurrency": max(1, min(int(wanted), local_concurrency)),
            "env": {k: str(c.local(v)) for k, v in f["env"].items()},
            "async": {
                "maximumRetryAttempts": 2 if retries is None else int(retries),
                "retryDelayMs": 1000,
                **({"onFailureQueueUrl": on_failure} if on_failure else {}),
            },
        }
    sources: list[dict[str, Any]] = []
    for src in c.event_sources:
        if src["function"] not in fns:
            raise DeployError(f"event source {src} targets a function the component does not declare")
        src = dict(src)
        if src["type"] == "schedule":
            src["everyMs"] = schedule_ms(src.pop("expression"))
        if src["type"] == "sqs" and src.get("maximumConcurrency"):
            src["maximumConcurrency"] = min(int(src["maximumConcurrency"]), local_concurrency)
        src.pop("bucket", None)
        sources.append(src)
    key = c.api_key()
    needs_key = any(r["apiKeyRequired"] for r in c.routes)
    config: dict[str, Any] = {
        "account": ACCOUNT,
        "region": REGION,
        "endpointUrl": c.endpoint_url,
        "functions": fns,
        "eventSources": sources,
        "api": {
            "apiKey": key["value"] if key and needs_key else None,
            "stage": c.stage_name,
            "binaryMediaTypes": c.binary_media_types,
            "missingRoute": c.missing_route,
            "routes": [
                {
                    "method": r["method"],
                    "resource": r["path"],
                    "function": r["function"],
                    "apiKeyRequired": r["apiKeyRequired"],
                    "authorization": r["authorization"],
                }
                for r in c.routes
            ],
        },
    }
    return config


def write_flat_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Write `cfn-outputs/flat-outputs.json` (flat key -> string value)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(outputs), indent=2, sort_keys=True) + "\n")


def flat_outputs(c: DeployContext, recorded: list[Recorded]) -> dict[str, str]:
    """The component's stack outputs (`STACK_OUTPUT_KEYS`) with their local values, and `EndpointUrl`.

    The values are those the component registered as its outputs, rewritten from the mocks' to moto's (queue URLs,
    ARNs, ids). `ApiUrl` is left out (the host serves the API), and so is an output the component leaves unset
    (ApiKeyId without API keys). A program without the component has `EndpointUrl` only.
    """
    components = [r for r in recorded if r.typ == COMPONENT_TOKEN]
    if len(components) > 1:
        raise DeployError(f"expected at most one {COMPONENT_TOKEN}, found {[r.name for r in components]}")
    out: dict[str, str] = {}
    for key, attr in STACK_OUTPUT_KEYS.items() if components else ():
        value = components[0].outputs.get(attr)
        if key == API_URL_KEY or value is None:
            continue
        local = str(c.local(value))
        if "amazonaws.com" in local:  # a mock-fabricated URL or host nothing local stands for
            raise DeployError(f"stack output {key} = {local!r}: no local resource stands for it")
        out[key] = local
    out[ENDPOINT_URL_KEY] = c.endpoint_url
    return out
