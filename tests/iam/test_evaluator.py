"""The IAM proof's evaluator and classifier on hand-made cases with known answers (R-SEC-4).

The answers are AWS's policy evaluation logic as documented in the IAM User Guide ("Policy evaluation logic",
"IAM JSON policy elements: NotAction / NotResource / Condition"): an explicit Deny wins over any Allow, a request
no statement allows is implicitly denied, `*` and `?` match in actions and resources, NotAction/NotResource match
everything except what they list, and a condition must hold for its statement to apply (a missing key fails
StringLike). The classifier cases follow the Service Authorization Reference (HeadObject is s3:GetObject,
ListObjectsV2 is s3:ListBucket on the bucket with s3:prefix, SendMessageBatch is sqs:SendMessage, ...).
"""

import json
from typing import Any

import pytest

from tests.iam.proof import Request, evaluate, grants
from tools.local.calls import IamRequest, iam_requests
from tools.local.proxy import s3_action

ROLE = "arn:aws:sts::123456789012:assumed-role/r/f"
BUCKET = "arn:aws:s3:::b"


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


POLICIES: dict[str, list[dict[str, Any]]] = {
    "deny-beats-allow": [
        _doc({"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
        _doc(
            {
                "Sid": "NoRejects",
                "Effect": "Deny",
                "Action": "s3:DeleteObject",
                "Resource": f"{BUCKET}/rejected/*",
            }
        ),
    ],
    "wildcards": [
        _doc({"Sid": "Get", "Effect": "Allow", "Action": "s3:Get*", "Resource": f"{BUCKET}/incoming/*"}),
        _doc(
            {
                "Sid": "Q",
                "Effect": "Allow",
                "Action": "sqs:?eceiveMessage",
                "Resource": "arn:aws:sqs:*:*:work-*",
            }
        ),
    ],
    "not-resource": [
        _doc(
            {
                "Sid": "AllButArchive",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "NotResource": f"{BUCKET}/api/*",
            }
        ),
    ],
    "not-action": [
        _doc(
            {
                "Sid": "AllSqsButDelete",
                "Effect": "Allow",
                "NotAction": "sqs:Delete*",
                "Resource": "arn:aws:sqs:us-east-1:123456789012:q",
            }
        ),
    ],
    "conditions": [
        _doc(
            {
                "Sid": "ListIncoming",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": BUCKET,
                "Condition": {"StringLike": {"s3:prefix": ["incoming/*"]}},
            },
            {"Sid": "Get", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"},
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Action": "s3:*",
                "Resource": [BUCKET, f"{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        )
    ],
}
TLS = {"aws:SecureTransport": "true"}
CASES: list[tuple[str, str, str, dict[str, str], str]] = [
    # (policy set, action, resource, context, AWS's answer)
    ("deny-beats-allow", "s3:DeleteObject", f"{BUCKET}/rejected/x.jsonl", TLS, "ExplicitlyDenied"),
    ("deny-beats-allow", "s3:DeleteObject", f"{BUCKET}/incoming/x.csv", TLS, "Allowed"),
    ("deny-beats-allow", "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q", TLS, "ImplicitlyDenied"),
    ("wildcards", "s3:GetObject", f"{BUCKET}/incoming/a/b.csv", TLS, "Allowed"),
    ("wildcards", "s3:GetObjectVersion", f"{BUCKET}/incoming/a.csv", TLS, "Allowed"),
    ("wildcards", "s3:GetObject", f"{BUCKET}/rejected/a.csv", TLS, "ImplicitlyDenied"),
    ("wildcards", "s3:PutObject", f"{BUCKET}/incoming/a.csv", TLS, "ImplicitlyDenied"),
    ("wildcards", "sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:work-1", TLS, "Allowed"),
    ("wildcards", "sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:other", TLS, "ImplicitlyDenied"),
    ("not-resource", "s3:PutObject", f"{BUCKET}/rejected/a.jsonl", TLS, "Allowed"),
    ("not-resource", "s3:PutObject", f"{BUCKET}/api/batch.json", TLS, "ImplicitlyDenied"),
    ("not-action", "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q", TLS, "Allowed"),
    ("not-action", "sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:q", TLS, "ImplicitlyDenied"),
    ("conditions", "s3:ListBucket", BUCKET, {**TLS, "s3:prefix": "incoming/2026/x.csv"}, "Allowed"),
    ("conditions", "s3:ListBucket", BUCKET, {**TLS, "s3:prefix": "rejected/x"}, "ImplicitlyDenied"),
    ("conditions", "s3:ListBucket", BUCKET, TLS, "ImplicitlyDenied"),
    ("conditions", "s3:GetObject", f"{BUCKET}/incoming/x.csv", TLS, "Allowed"),
    (
        "conditions",
        "s3:GetObject",
        f"{BUCKET}/incoming/x.csv",
        {"aws:SecureTransport": "false"},
        "ExplicitlyDenied",
    ),
]


def test_evaluator_gives_aws_answers_on_hand_made_policies() -> None:
    """R-SEC-4: Deny beats Allow, wildcards, NotResource, NotAction and conditions give AWS's answers."""
    reqs = [
        Request(f"r{i}", ps, ROLE, action, resource, ctx)
        for i, (ps, action, resource, ctx, _want) in enumerate(CASES)
    ]
    got = evaluate(POLICIES, reqs)
    wrong = [
        (ps, action, resource, ctx, want, got[f"r{i}"])
        for i, (ps, action, resource, ctx, want) in enumerate(CASES)
        if got[f"r{i}"].result != want
    ]
    assert not wrong, "\n".join(map(str, wrong))
    assert got["r0"].deny == ("NoRejects",) and got["r0"].allow == ("All",)


def test_evaluator_refuses_what_aws_does_not_have() -> None:
    """A misclassified call cannot pass: unknown actions and a resource of the wrong type are errors."""
    policies = {"p": [_doc({"Effect": "Allow", "Action": "*", "Resource": "*"})]}
    got = evaluate(
        policies,
        [
            Request("a", "p", ROLE, "s3:GetObjects", f"{BUCKET}/x", TLS),
            Request("b", "p", ROLE, "s3:GetObject", BUCKET, TLS),  # an object action on the bucket ARN
        ],
    )
    assert got["a"].result == "Error" and got["b"].result == "Error", got


def test_resource_policy_deny_applies() -> None:
    """A bucket policy's Deny (TLS only) denies a request the identity policy allows."""
    bucket_policy = _doc(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    policies = {"p": [_doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"})]}
    got = evaluate(
        policies,
        [
            Request("tls", "p", ROLE, "s3:GetObject", f"{BUCKET}/k", TLS, "bp"),
            Request(
                "plain", "p", ROLE, "s3:GetObject", f"{BUCKET}/k", {"aws:SecureTransport": "false"}, "bp"
            ),
        ],
        {"bp": bucket_policy},
    )
    assert got["tls"].result == "Allowed"
    assert got["plain"].result == "ExplicitlyDenied" and "DenyInsecureTransport" in got["plain"].deny


def test_grants_expand_statements_into_elements() -> None:
    """Each Allow action x resource is one grant (with the statement's condition); NotAction stays whole."""
    doc = _doc(
        {
            "Sid": "A",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{BUCKET}/a/*", f"{BUCKET}/b/*"],
        },
        {"Sid": "N", "Effect": "Allow", "NotAction": "sqs:Delete*", "Resource": "*"},
        {"Sid": "D", "Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    )
    got = grants("fn", [doc])
    assert [(g.sid, g.action, g.resource) for g in got] == [
        ("A", "s3:GetObject", f"{BUCKET}/a/*"),
        ("A", "s3:GetObject", f"{BUCKET}/b/*"),
        ("A", "s3:PutObject", f"{BUCKET}/a/*"),
        ("A", "s3:PutObject", f"{BUCKET}/b/*"),
        ("N", "NotAction sqs:Delete*", "*"),
    ]


class _H(dict[str, str]):
    """Headers as the proxy sees them (case-insensitive enough for these cases)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


def _one(
    service: str, action: str, method: str, path: str, body: bytes = b"", **headers: str
) -> list[IamRequest]:
    return list(iam_requests(service, action, method, path, _H(headers), body, "us-east-1"))


def _ctx(**kv: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"aws:SecureTransport": "true", **kv}.items()))


S3_SINGLE: list[tuple[str, str, str, str]] = [
    # (method, path-style request, IAM action, object key it is authorized on)
    ("GET", "/b/incoming/a%20b.csv", "s3:GetObject", "incoming/a b.csv"),
    ("HEAD", "/b/incoming/x.csv", "s3:GetObject", "incoming/x.csv"),
    ("GET", "/b/incoming/x.csv?versionId=3", "s3:GetObjectVersion", "incoming/x.csv"),
    ("PUT", "/b/rejected/x.jsonl", "s3:PutObject", "rejected/x.jsonl"),
    ("POST", "/b/rejected/x.jsonl?uploads", "s3:PutObject", "rejected/x.jsonl"),
    ("PUT", "/b/rejected/x.jsonl?partNumber=2&uploadId=u", "s3:PutObject", "rejected/x.jsonl"),
    ("POST", "/b/rejected/x.jsonl?uploadId=u", "s3:PutObject", "rejected/x.jsonl"),
    ("DELETE", "/b/rejected/x.jsonl?uploadId=u", "s3:AbortMultipartUpload", "rejected/x.jsonl"),
    ("DELETE", "/b/rejected/x.jsonl", "s3:DeleteObject", "rejected/x.jsonl"),
]


def _s3(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> list[IamRequest]:
    url_path, _, query = path.partition("?")
    h = headers or {}
    return _one("s3", s3_action(method, url_path, query, _H(h)), method, path, body, **h)


@pytest.mark.parametrize(("method", "path", "action", "key"), S3_SINGLE)
def test_s3_object_calls_become_their_authorizations(method: str, path: str, action: str, key: str) -> None:
    """R-SEC-4: each S3 object call is authorized as the Service Authorization Reference says."""
    assert _s3(method, path) == [IamRequest(action, f"{BUCKET}/{key}", _ctx())]


def test_s3_listing_batch_delete_and_copy_become_their_authorizations() -> None:
    """A listing is s3:ListBucket on the bucket with its prefix; DeleteObjects is one check per key (versioned keys
    need DeleteObjectVersion); a copy also reads its source."""
    listing = _s3("GET", "/b?list-type=2&prefix=rejected%2Fincoming%2Fx&max-keys=1")
    assert listing == [
        IamRequest("s3:ListBucket", BUCKET, _ctx(**{"s3:prefix": "rejected/incoming/x", "s3:max-keys": "1"}))
    ]
    body = b"<Delete><Object><Key>rejected/a</Key></Object><Object><Key>rejected/b</Key><VersionId>1</VersionId></Object></Delete>"
    assert _s3("POST", "/b?delete", body) == [
        IamRequest("s3:DeleteObject", f"{BUCKET}/rejected/a", _ctx()),
        IamRequest("s3:DeleteObjectVersion", f"{BUCKET}/rejected/b", _ctx()),
    ]
    assert _s3("PUT", "/b/api/x.json", b"", {"x-amz-copy-source": "/b/incoming/y.json"}) == [
        IamRequest("s3:PutObject", f"{BUCKET}/api/x.json", _ctx()),
        IamRequest("s3:GetObject", f"{BUCKET}/incoming/y.json", _ctx()),
    ]


def test_json_protocol_calls_become_their_authorizations() -> None:
    """DynamoDB per table (and index), SQS batches as single actions on the queue ARN, PutEvents per bus."""
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/T"
    body = json.dumps({"RequestItems": {"T": [], "U": []}}).encode()
    assert [r.resource for r in _one("dynamodb", "BatchWriteItem", "POST", "/", body)] == [
        table,
        table[:-1] + "U",
    ]
    q = json.dumps({"TableName": "T", "IndexName": "I"}).encode()
    assert _one("dynamodb", "Query", "POST", "/", q) == [
        IamRequest("dynamodb:Query", f"{table}/index/I", _ctx())
    ]
    send = json.dumps({"QueueUrl": "http://127.0.0.1:5000/123456789012/work", "Entries": []}).encode()
    assert _one("sqs", "SendMessageBatch", "POST", "/", send) == [
        IamRequest("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:work", _ctx())
    ]
    ev = json.dumps(
        {"Entries": [{"EventBusName": "bus", "Source": "md", "DetailType": "t"}, {"Source": "x"}]}
    ).encode()
    assert _one("events", "PutEvents", "POST", "/", ev) == [
        IamRequest(
            "events:PutEvents",
            "arn:aws:events:us-east-1:123456789012:event-bus/bus",
            _ctx(**{"events:source": "md", "events:detail-type": "t"}),
        ),
        IamRequest(
            "events:PutEvents",
            "arn:aws:events:us-east-1:123456789012:event-bus/default",
            _ctx(**{"events:source": "x"}),
        ),
    ]
    with pytest.raises(LookupError, match="dynamodb ExecuteStatement has no IAM mapping"):
        _one("dynamodb", "ExecuteStatement", "POST", "/", b'{"Statement": "SELECT"}')


def test_host_calls_are_attributed_as_aws_attributes_them() -> None:
    """The event source mapping's polling counts for its function, an on-failure send for the failed function,
    shim polling for nobody; anything else from the host, or an unclassified call, is a problem."""
    from tests.iam.proof import FunctionRole, attribute
    from tools.local.calls import Call

    def q(name: str) -> str:
        return f"http://127.0.0.1:1/123456789012/{name}"

    def call(action: str, queue: str, iam_action: str, status: int = 200, unclassified: str = "") -> Call:
        arn = f"arn:aws:sqs:us-east-1:123456789012:{queue}"
        return Call("sqs", action, status, 0, 0, {}, "", (IamRequest(iam_action, arn, _ctx()),), unclassified)

    config = {
        "eventSources": [
            {"type": "sqs", "queueUrl": q("work"), "function": "P"},
            {"type": "s3-notification", "queueUrl": q("shim"), "function": "I"},
        ],
        "functions": {"I": {"async": {"onFailureQueueUrl": q("i-failed")}}, "P": {"async": {}}},
    }
    calls = {
        "host": [
            call("ReceiveMessage", "work", "sqs:ReceiveMessage"),
            call("ReceiveMessage", "shim", "sqs:ReceiveMessage"),
            call("SendMessage", "i-failed", "sqs:SendMessage"),
            call("SendMessage", "work", "sqs:SendMessage"),
        ],
        "I": [call("SendMessageBatch", "work", "sqs:SendMessage"), call("X", "work", "", unclassified="why")],
    }
    roles = {"I": FunctionRole("I", "IRole", [], [], "/aws/lambda/I", False)}
    rec = attribute(calls, config, "host", {"I": 1}, roles)
    got = sorted((a.function, a.source, a.request.action) for a in rec.attributed)
    assert got == [
        ("I", "handler", "sqs:SendMessage"),
        ("I", "modeled: Lambda writes the function's logs", "logs:CreateLogStream"),
        ("I", "modeled: Lambda writes the function's logs", "logs:PutLogEvents"),
        ("I", "on-failure destination", "sqs:SendMessage"),
        ("P", "event source mapping", "sqs:ReceiveMessage"),
    ]
    assert len(rec.emulation) == 1
    assert len(rec.problems) == 2, rec.problems
    assert any(p.startswith("I: unclassified call") for p in rec.problems), rec.problems
    assert any(p.startswith("host:") and "neither" in p for p in rec.problems), rec.problems


# proves R-SEC-1, R-EVB-1
def test_processor_may_put_only_ticks_stored_events_on_its_bus() -> None:
    """The component's PutEvents grant (`policies.put_ticks_stored_events`), evaluated with AWS's logic: our source
    and detail-type on our bus are allowed; another source or detail-type, a missing one, or another bus are not."""
    from market_data_pipeline import constants as c
    from market_data_pipeline import policies

    bus = "arn:aws:events:us-east-1:123456789012:event-bus/MarketDataEvents-t"
    doc = _doc(policies.put_ticks_stored_events(bus))
    ours = {"events:source": c.EVENT_SOURCE, "events:detail-type": c.EVENT_DETAIL_TYPE}
    cases = {
        "ours": (bus, ours, "Allowed"),
        "other source": (bus, {**ours, "events:source": "acme.orders"}, "ImplicitlyDenied"),
        "other detail-type": (bus, {**ours, "events:detail-type": "OrderPlaced"}, "ImplicitlyDenied"),
        "no source": (bus, {"events:detail-type": c.EVENT_DETAIL_TYPE}, "ImplicitlyDenied"),
        "no detail-type": (bus, {"events:source": c.EVENT_SOURCE}, "ImplicitlyDenied"),
        "other bus": (bus.replace("MarketDataEvents-t", "default"), ours, "ImplicitlyDenied"),
    }
    got = evaluate(
        {"p": [doc]},
        [Request(k, "p", ROLE, "events:PutEvents", r, {**TLS, **ctx}) for k, (r, ctx, _w) in cases.items()],
    )
    assert {k: got[k].result for k in cases} == {k: w for k, (_r, _c, w) in cases.items()}
