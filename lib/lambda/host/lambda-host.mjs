// Local Lambda host: runs handler bundles in forked worker processes (one per execution environment) and
// emulates the triggers moto cannot run. Config format and behaviour: README.md next to this file.
//   node lambda-host.mjs <config.json> [--ready-file <path>]
import { fork } from "node:child_process";
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync, renameSync, existsSync } from "node:fs";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";

const here = dirname(fileURLToPath(import.meta.url));
const log = (...a) => process.stderr.write(`[host] ${a.join(" ")}\n`);
const sleep = (ms, signal) =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    signal?.addEventListener("abort", () => { clearTimeout(t); r(); }, { once: true });
  });

const EVENT_SOURCE_TYPES = ["sqs", "s3-notification", "eventbridge-rule", "schedule"];
const MAX_LOG_LINES = 20_000; // per function, ring buffer exposed at /_host/logs
const MAX_DURATIONS = 5_000;
const END_MARK = "\u0001lambda-host-end "; // written by worker.mjs after each invocation, never shown
const MAX_INVOCATION_LOG = 1024 * 1024; // per invocation, for LogType Tail (which returns the last 4 KB)
const MAX_HTTP_BODY = 10 * 1024 * 1024; // API Gateway REST payload limit
const MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024; // Lambda synchronous request payload limit
const ROUTE_AUTHORIZATIONS = ["NONE", "AWS_IAM"]; // a REST method's authorizationType the host emulates (CUSTOM, COGNITO_USER_POOLS: not)

// A SigV4 Authorization header (AWS: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-authentication-methods.html):
// "AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/<service>/aws4_request, SignedHeaders=<h;...>, Signature=<hex>".
const SIGV4_HEADER = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*),\s*Signature=([0-9a-f]{64})$/;

/**
 * What API Gateway's AWS_IAM authorization sees in a request's headers (lower-cased names), without verifying the
 * signature: `{ missing: true }` when there is no Authorization header (API Gateway: 403 "Missing Authentication
 * Token", the MISSING_AUTHENTICATION_TOKEN gateway response); `{ problem }` when the header is not a SigV4 signature
 * for `execute-api` in `region` (API Gateway: 403, IncompleteSignatureException / InvalidSignatureException);
 * else `{ accessKey }` (the key id of the credential scope, put in requestContext.identity.accessKey).
 * Sources: https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden and
 * https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch.
 */
export function sigV4Credential(headers, region) {
  const value = headers.authorization;
  if (value === undefined || String(value).trim() === "") return { missing: true };
  const m = SIGV4_HEADER.exec(String(value).trim());
  if (!m) return { problem: "Authorization header is not a SigV4 signature: expected 'AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/execute-api/aws4_request, SignedHeaders=<names>, Signature=<64 hex digits>'" };
  const [, accessKey, , scopeRegion, service, signed] = m;
  if (service !== "execute-api") return { problem: `Credential should be scoped to service 'execute-api', not '${service}'` };
  if (scopeRegion !== region) return { problem: `Credential should be scoped to region '${region}', not '${scopeRegion}'` };
  if (!signed.split(";").includes("host")) return { problem: "SignedHeaders must include 'host'" };
  if (headers["x-amz-date"] === undefined && headers.date === undefined) return { problem: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header" };
  return { accessKey };
}

class ConfigError extends Error {}

/** Validates the config and fills defaults; throws ConfigError naming the bad field and what is allowed. */
export function normaliseConfig(raw, baseDir = process.cwd()) {
  const bad = (msg) => { throw new ConfigError(`host config: ${msg}`); };
  if (!raw || typeof raw !== "object") bad("must be a JSON object");
  const cfg = { account: "123456789012", region: "us-east-1", bindHost: "127.0.0.1", port: 0, echoLogs: true, ...raw };
  if (cfg.bindHost !== "127.0.0.1" && cfg.bindHost !== "localhost") bad(`bindHost ${cfg.bindHost} not allowed (127.0.0.1 only)`);
  if (!cfg.functions || typeof cfg.functions !== "object" || !Object.keys(cfg.functions).length) bad("functions must name at least one function");
  const posInt = (v, what, max = Infinity) => {
    if (!Number.isInteger(v) || v < 1 || v > max) bad(`${what} must be an integer 1..${max}, got ${JSON.stringify(v)}`);
    return v;
  };
  for (const [name, f] of Object.entries(cfg.functions)) {
    if (!f || typeof f.file !== "string") bad(`functions.${name}.file (path of the handler module) is required`);
    f.file = resolve(baseDir, f.file);
    if (!existsSync(f.file)) bad(`functions.${name}.file ${f.file} does not exist (did you run 'make build'?)`);
    f.timeout = f.timeout ?? 30; if (!(f.timeout > 0 && f.timeout <= 900)) bad(`functions.${name}.timeout must be 0 < s <= 900`);
    if (f.initTimeout !== undefined && !(f.initTimeout > 0 && f.initTimeout <= 900)) bad(`functions.${name}.initTimeout must be 0 < s <= 900`);
    f.memory = posInt(f.memory ?? 512, `functions.${name}.memory`, 10240);
    f.concurrency = posInt(f.concurrency ?? 1, `functions.${name}.concurrency`, 64);
    f.env = f.env ?? {};
    f.async = { maximumRetryAttempts: 2, retryDelayMs: 1000, onFailureQueueUrl: null, ...(f.async ?? {}) };
    if (![0, 1, 2].includes(f.async.maximumRetryAttempts)) bad(`functions.${name}.async.maximumRetryAttempts must be 0, 1 or 2`);
  }
  cfg.eventSources = cfg.eventSources ?? [];
  cfg.eventSources.forEach((s, i) => {
    if (!EVENT_SOURCE_TYPES.includes(s.type)) bad(`eventSources[${i}].type ${JSON.stringify(s.type)} must be one of ${EVENT_SOURCE_TYPES.join(", ")}`);
    if (!cfg.functions[s.function]) bad(`eventSources[${i}].function ${JSON.stringify(s.function)} is not in functions (${Object.keys(cfg.functions).join(", ")})`);
    if (s.type === "schedule") { if (!(s.everyMs >= 50)) bad(`eventSources[${i}].everyMs must be >= 50`); return; }
    if (typeof s.queueUrl !== "string") bad(`eventSources[${i}].queueUrl is required for type ${s.type}`);
    if (s.type === "sqs") {
      s.batchSize = posInt(s.batchSize ?? 10, `eventSources[${i}].batchSize`, 10_000);
      s.maximumBatchingWindowSeconds = s.maximumBatchingWindowSeconds ?? 0;
      if (!(s.maximumBatchingWindowSeconds >= 0 && s.maximumBatchingWindowSeconds <= 300)) bad(`eventSources[${i}].maximumBatchingWindowSeconds must be 0..300`);
      s.reportBatchItemFailures = s.reportBatchItemFailures ?? true;
      s.maximumConcurrency = posInt(s.maximumConcurrency ?? cfg.functions[s.function].concurrency, `eventSources[${i}].maximumConcurrency`, 64);
    }
  });
  const api = cfg.api ?? null;
  if (api) {
    api.routes = api.routes ?? [];
    api.routes.forEach((r, i) => {
      if (!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"].includes(r.method)) bad(`api.routes[${i}].method ${r.method} is not an HTTP method`);
      if (typeof r.resource !== "string" || !r.resource.startsWith("/")) bad(`api.routes[${i}].resource must be a path like /symbols/{symbol}/latest`);
      if (!cfg.functions[r.function]) bad(`api.routes[${i}].function ${JSON.stringify(r.function)} is not in functions`);
      r.authorization = r.authorization ?? "NONE";
      if (!ROUTE_AUTHORIZATIONS.includes(r.authorization)) bad(`api.routes[${i}].authorization ${JSON.stringify(r.authorization)} must be one of ${ROUTE_AUTHORIZATIONS.join(", ")}`);
      r.apiKeyRequired = r.apiKeyRequired ?? true;
      if (typeof r.apiKeyRequired !== "boolean") bad(`api.routes[${i}].apiKeyRequired must be true or false`);
    });
    api.stage = api.stage ?? null;
    api.apiKey = api.apiKey ?? null;
    api.binaryMediaTypes = api.binaryMediaTypes ?? [];
    api.apiId = api.apiId ?? "localapi";
    api.integrationTimeoutMs = api.integrationTimeoutMs ?? 29_000;
    if (!(api.integrationTimeoutMs >= 50 && api.integrationTimeoutMs <= 900_000)) bad("api.integrationTimeoutMs must be 50..900000");
  }
  cfg.api = api;
  return cfg;
}

export class LambdaHost {
  constructor(cfg) {
    this.cfg = cfg;
    this.account = cfg.account;
    this.region = cfg.region;
    this.endpointUrl = cfg.endpointUrl ?? process.env.AWS_ENDPOINT_URL;
    this.fns = new Map();
    for (const [name, f] of Object.entries(cfg.functions)) {
      this.fns.set(name, { ...f, name, idle: [], busy: new Set(), waiters: [], logLines: [], logSeq: 0, nodeVersions: new Set(),
        stats: { invocations: 0, errors: 0, timeouts: 0, coldStarts: 0, throttledWaits: 0, asyncRetries: 0, asyncFailures: 0, durations: [], durationTotalMs: 0, cpuTotalMs: 0, cpuCount: 0 } });
    }
    this.stopped = false;
    this.workerSeq = 0; // numbers the execution environments (AWS_SDK_UA_APP_ID of each worker)
    this.abort = new AbortController();
    this.timers = [];
    this.pollers = [];
    this.asyncInFlight = new Set();
    this.sqs = new SQSClient({ region: this.region, ...(this.endpointUrl ? { endpoint: this.endpointUrl } : {}),
      credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "test", secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "test" } });
  }

  // ---- execution environments -------------------------------------------------------------------------------------
  workerEnv(fn) {
    const env = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", LANG: "en_US.UTF-8", TZ: "UTC", HOME: process.env.HOME ?? "/tmp",
      NODE_NO_WARNINGS: "1",
      LAMBDA_TASK_ROOT: dirname(fn.file), LAMBDA_RUNTIME_DIR: here, AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
      AWS_REGION: this.region, AWS_DEFAULT_REGION: this.region,
      AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_SESSION_TOKEN: "test",
      AWS_LAMBDA_FUNCTION_NAME: fn.name, AWS_LAMBDA_FUNCTION_VERSION: "$LATEST", AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memory),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `${new Date().toISOString().slice(0, 10).replace(/-/g, "/")}/[$LATEST]${randomUUID().replace(/-/g, "")}`,
      _HANDLER: `index.${fn.export ?? "handler"}`,
      POWERTOOLS_TRACE_ENABLED: "false",
      ...(this.endpointUrl ? { AWS_ENDPOINT_URL: this.endpointUrl } : {}),
      ...fn.env,
      // Names this execution environment in every AWS call it makes: AWS SDK for JavaScript v3 appends "app/<id>" to
      // the User-Agent header (@aws-sdk/util-user-agent-node NODE_APP_ID_CONFIG_OPTIONS reads AWS_SDK_UA_APP_ID; at
      // most 50 characters, @aws-sdk/middleware-user-agent). The counting proxies attribute calls to workers by it.
      AWS_SDK_UA_APP_ID: `lambda-host-worker-${++this.workerSeq}`,
      _LOCAL_HANDLER_FILE: fn.file, _LOCAL_HANDLER_EXPORT: fn.export ?? "handler",
    };
    delete env.AWS_EXECUTION_ENV; // would switch Powertools Tracer on and spam X-Ray errors
    return env;
  }

  // Worker output is split into whole lines (a chunk may end mid-line; the rest is kept until the next chunk or exit).
  addLog(fn, w, stream, chunk, flush = false) {
    const text = (w.partial[stream] ?? "") + (chunk ? chunk.toString() : "");
    const lines = text.split("\n");
    w.partial[stream] = flush ? "" : lines.pop();
    for (let line of lines) {
      const mi = line.indexOf(END_MARK);
      if (mi >= 0) { this.markSeen(w, stream, line.slice(mi + END_MARK.length)); line = line.slice(0, mi); } // output without a final newline
      if (!line) continue;
      w.invocationLog.push(line + "\n");
      w.invocationLogBytes += line.length + 1;
      fn.logLines.push({ seq: ++fn.logSeq, stream, line });
      if (this.cfg.echoLogs) process.stdout.write(`[${fn.name}] ${line}\n`);
    }
    while (w.invocationLogBytes > MAX_INVOCATION_LOG && w.invocationLog.length > 1) w.invocationLogBytes -= w.invocationLog.shift().length;
    if (fn.logLines.length > MAX_LOG_LINES) fn.logLines.splice(0, fn.logLines.length - MAX_LOG_LINES);
  }

  markSeen(w, stream, id) {
    w.marks[stream] = id;
    if (w.flushed && w.marks.stdout === w.flushed.id && w.marks.stderr === w.flushed.id) { const f = w.flushed; w.flushed = null; f.resolve(); }
  }

  // Resolves once both output streams of the worker have delivered the end mark of invocation `id` (bounded wait).
  outputFlushed(w, id) {
    if (w.marks.stdout === id && w.marks.stderr === id) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => { w.flushed = null; resolve(); }, 2000);
      w.flushed = { id, resolve: () => { clearTimeout(t); resolve(); } };
    });
  }

  spawn(fn) {
    const execPath = fn.nodeBinary ?? this.cfg.nodeBinary ?? process.execPath;
    const child = fork(resolve(here, "worker.mjs"), [], {
      env: this.workerEnv(fn), execPath, cwd: dirname(fn.file),
      execArgv: [`--max-old-space-size=${fn.memory}`], stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const w = { child, pending: null, invocationLog: [], invocationLogBytes: 0, partial: {}, marks: {}, flushed: null, dead: false, initMs: 0 };
    child.stdout.setEncoding("utf8"); child.stderr.setEncoding("utf8"); // never split a UTF-8 character
    child.stdout.on("data", (d) => this.addLog(fn, w, "stdout", d));
    child.stderr.on("data", (d) => this.addLog(fn, w, "stderr", d));
    child.stdout.on("end", () => this.addLog(fn, w, "stdout", null, true));
    child.stderr.on("end", () => this.addLog(fn, w, "stderr", null, true));
    w.ready = new Promise((res, rej) => {
      child.on("message", (m) => {
        if (m.type === "ready") { fn.stats.coldStarts++; fn.nodeVersions.add(m.nodeVersion); w.initMs = m.initMs; res(w); }
        else if (m.type === "initError") rej(Object.assign(new Error(m.error.errorMessage), { lambda: m.error }));
        else if (m.type === "result" && w.pending && m.id === w.pending.requestId) { const p = w.pending; w.pending = null; p.resolve(m); }
      });
      child.on("exit", (code, sig) => {
        w.dead = true;
        rej(Object.assign(new Error(`worker exited during init (${sig ?? code})`), {
          lambda: { errorType: "Runtime.ExitError", errorMessage: `Runtime exited during init: ${sig ? "signal: " + sig : "exit status " + code}` } }));
        if (w.pending) {
          const p = w.pending; w.pending = null;
          p.resolve({ error: { errorType: "Runtime.ExitError", errorMessage: `RequestId: ${p.requestId} Error: Runtime exited with error: ${sig ? "signal: " + sig : "exit status " + code}` } });
        }
        fn.idle = fn.idle.filter((x) => x !== w);
      });
      child.on("error", (e) => log(`worker of ${fn.name} error: ${e.message}`));
    });
    return w;
  }

  async acquire(fn) {
    for (let spins = 0; ; spins++) {
      if (this.stopped) throw Object.assign(new Error("host is stopping"), { lambda: { errorType: "ServiceException", errorMessage: "host is stopping" } });
      const w = fn.idle.pop();
      if (w && !w.dead) { fn.busy.add(w); return w; }
      if (w) continue;
      if (fn.busy.size < fn.concurrency) {
        const nw = this.spawn(fn); fn.busy.add(nw);
        const initLimitMs = (fn.initTimeout ?? Math.max(10, fn.timeout)) * 1000; // Lambda bounds the init phase too
        let initTimer;
        const initTimeout = new Promise((_, rej) => { initTimer = setTimeout(() => rej(Object.assign(new Error("init timed out"), {
          lambda: { errorType: "Sandbox.Timedout", errorMessage: `Init phase did not complete within ${initLimitMs / 1000} seconds` } })), initLimitMs); });
        try { await Promise.race([nw.ready, initTimeout]); return nw; }
        catch (e) { nw.dead = true; fn.busy.delete(nw); nw.child.kill("SIGKILL"); this.wake(fn); throw e; }
        finally { clearTimeout(initTimer); }
      }
      fn.stats.throttledWaits++;
      await new Promise((r) => fn.waiters.push(r)); // wait for a free environment (the pool is the concurrency limit)
    }
  }
  wake(fn) { const r = fn.waiters.shift(); if (r) r(); }
  release(fn, w) { fn.busy.delete(w); if (!w.dead) fn.idle.push(w); this.wake(fn); }

  /** RequestResponse invocation: {requestId, durationMs, logs, result} or {..., error}. */
  async invoke(name, event) {
    const fn = this.fns.get(name);
    if (!fn) throw Object.assign(new Error(`Function not found: arn:aws:lambda:${this.region}:${this.account}:function:${name}`), { status: 404 });
    const requestId = randomUUID();
    let w;
    const t0 = performance.now();
    try { w = await this.acquire(fn); } catch (e) {
      fn.stats.invocations++; fn.stats.errors++;
      return { requestId, durationMs: 0, logs: "", error: e.lambda ?? { errorType: "Runtime.InitError", errorMessage: e.message } };
    }
    const cold = w.initMs && !w.usedOnce; w.usedOnce = true;
    w.invocationLog = [`START RequestId: ${requestId} Version: $LATEST\n`]; w.invocationLogBytes = 0;
    const start = performance.now();
    let timer;
    const res = await new Promise((resolveP) => {
      w.pending = { resolve: resolveP, requestId };
      timer = setTimeout(() => { // Lambda destroys the environment on timeout
        fn.stats.timeouts++; w.pending = null; w.dead = true; w.child.kill("SIGKILL");
        resolveP({ error: { errorType: "Sandbox.Timedout", errorMessage: `RequestId: ${requestId} Error: Task timed out after ${fn.timeout.toFixed(2)} seconds` } });
      }, fn.timeout * 1000);
      try {
        w.child.send({ type: "invoke", id: requestId, event, deadline: Date.now() + fn.timeout * 1000,
          fn: { name: fn.name, memory: fn.memory, account: this.account, region: this.region } });
      } catch (e) { w.pending = null; resolveP({ error: { errorType: "Runtime.ExitError", errorMessage: `could not reach the worker: ${e.message}` } }); }
    });
    clearTimeout(timer);
    const durationMs = performance.now() - start;
    if (!w.dead) await this.outputFlushed(w, requestId); // the worker's last log lines belong to this invocation
    w.invocationLog.push(`END RequestId: ${requestId}\n`,
      `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\tMemory Size: ${fn.memory} MB` +
      (cold ? `\tInit Duration: ${w.initMs.toFixed(2)} ms` : "") + "\n");
    const logs = w.invocationLog.join("");
    this.release(fn, w);
    const s = fn.stats;
    s.invocations++; if (res.error) s.errors++;
    s.durations.push(durationMs); if (s.durations.length > MAX_DURATIONS) s.durations.shift();
    s.durationTotalMs += durationMs;
    // CPU time (user + system) the worker spent in this invocation (absent when it timed out or died)
    const cpuMs = typeof res.cpuMs === "number" ? res.cpuMs : null;
    if (cpuMs !== null) { s.cpuTotalMs += cpuMs; s.cpuCount++; }
    return { requestId, durationMs, cpuMs, totalMs: performance.now() - t0, logs, ...(res.error ? { error: res.error } : { result: res.result }) };
  }

  /** Event invocation with Lambda's async semantics: retries, then the on-failure destination. */
  async invokeAsync(name, event, overrides = {}) {
    const fn = this.fns.get(name);
    if (!fn) throw Object.assign(new Error(`Function not found: ${name}`), { status: 404 });
    const cfg = { ...fn.async, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
    let r;
    for (let attempt = 0; attempt <= cfg.maximumRetryAttempts; attempt++) {
      if (attempt > 0) { fn.stats.asyncRetries++; await sleep(cfg.retryDelayMs * attempt, this.abort.signal); if (this.stopped) return r; }
      r = await this.invoke(name, event);
      if (!r.error) return r;
      log(`${name} async attempt ${attempt + 1}/${cfg.maximumRetryAttempts + 1} failed: ${r.error.errorType}: ${r.error.errorMessage}`);
    }
    fn.stats.asyncFailures++;
    const record = {
      version: "1.0", timestamp: new Date().toISOString(),
      requestContext: { requestId: r.requestId, functionArn: `arn:aws:lambda:${this.region}:${this.account}:function:${name}:$LATEST`,
        condition: "RetriesExhausted", approximateInvokeCount: cfg.maximumRetryAttempts + 1 },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      responsePayload: r.error,
    };
    if (cfg.onFailureQueueUrl) {
      await this.sqs.send(new SendMessageCommand({ QueueUrl: cfg.onFailureQueueUrl, MessageBody: JSON.stringify(record) }));
      log(`${name}: retries exhausted, event sent to on-failure destination ${cfg.onFailureQueueUrl}`);
    } else {
      log(`${name}: retries exhausted and no on-failure destination configured: event DISCARDED: ${JSON.stringify(record).slice(0, 2000)}`);
    }
    return r;
  }

  trackAsync(p) { this.asyncInFlight.add(p); p.finally(() => this.asyncInFlight.delete(p)).catch(() => {}); return p; }

  // ---- HTTP: Lambda Invoke API, API Gateway REST proxy, /_host -----------------------------------------------------
  listen() {
    this.server = createServer((req, res) => {
      this.handleHttp(req, res).catch((e) => {
        log(`http error: ${e.stack ?? e}`);
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: String(e.message ?? e) }));
      });
    });
    this.server.keepAliveTimeout = 65_000;
    return new Promise((r, rej) => {
      this.server.once("error", rej);
      this.server.listen(this.cfg.port, this.cfg.bindHost, () => { this.port = this.server.address().port; r(this.port); });
    });
  }

  async handleHttp(req, res) {
    const chunks = []; let size = 0;
    for await (const c of req) { size += c.length; if (size <= MAX_HTTP_BODY) chunks.push(c); } // drain, keep at most the limit
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, "http://local");
    const json = (status, obj, headers = {}) => res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(obj));
    if (size > MAX_HTTP_BODY) return json(413, { message: `HTTP content length exceeded ${MAX_HTTP_BODY} bytes.` });

    const m = url.pathname.match(/^\/2015-03-31\/functions\/([^/]+)\/invocations$/);
    if (m && req.method === "POST") return this.handleInvokeApi(req, res, decodeURIComponent(m[1]), body, json);

    if (url.pathname.startsWith("/_host/") && req.method === "GET") return this.handleHostApi(url, json);

    if (this.cfg.api) return this.handleRestApi(req, res, url, body, json);
    return json(404, { message: "Not Found" });
  }

  async handleInvokeApi(req, res, nameOrArn, body, json) {
    // Accept a name, a partial ARN (account:function:name) or a full ARN, optionally qualified with $LATEST.
    const parts = nameOrArn.split(":");
    const fi = parts.indexOf("function");
    const name = fi >= 0 ? parts[fi + 1] : parts[0];
    if (!this.fns.has(name)) {
      return json(404, { Type: "User", message: `Function not found: arn:aws:lambda:${this.region}:${this.account}:function:${name}` },
        { "x-amzn-errortype": "ResourceNotFoundException" });
    }
    if (body.length > MAX_INVOKE_PAYLOAD) {
      return json(413, { Type: "User", message: `Request must be smaller than ${MAX_INVOKE_PAYLOAD} bytes for the InvokeFunction operation` },
        { "x-amzn-errortype": "RequestTooLargeException" });
    }
    let event;
    try { event = body.length ? JSON.parse(body.toString("utf8")) : {}; } catch (e) {
      return json(400, { Type: "User", message: `Could not parse request body into json: ${e.message}` }, { "x-amzn-errortype": "InvalidRequestContentException" });
    }
    const type = req.headers["x-amz-invocation-type"] ?? "RequestResponse";
    if (type === "DryRun") return res.writeHead(204).end();
    if (type === "Event") {
      this.trackAsync(this.invokeAsync(name, event).catch((e) => log(`async invoke of ${name} failed: ${e.message}`)));
      return res.writeHead(202, { "x-amzn-requestid": randomUUID() }).end();
    }
    if (type !== "RequestResponse") {
      return json(400, { Type: "User", message: `1 validation error detected: Value '${type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]` },
        { "x-amzn-errortype": "ValidationException" });
    }
    const r = await this.invoke(name, event);
    const h = { "content-type": "application/json", "x-amz-executed-version": "$LATEST", "x-amzn-requestid": r.requestId };
    if (r.error) h["x-amz-function-error"] = "Unhandled";
    if (req.headers["x-amz-log-type"] === "Tail") h["x-amz-log-result"] = Buffer.from(Buffer.from(r.logs).subarray(-4096)).toString("base64");
    res.writeHead(200, h).end(JSON.stringify(r.error ?? r.result));
  }

  handleHostApi(url, json) {
    if (url.pathname === "/_host/stats") return json(200, this.stats());
    if (url.pathname === "/_host/health") return json(200, { ok: true, functions: [...this.fns.keys()] });
    if (url.pathname === "/_host/logs") {
      const name = url.searchParams.get("function");
      const fn = this.fns.get(name ?? "");
      if (!fn) return json(404, { message: `unknown function ${JSON.stringify(name)}; known: ${[...this.fns.keys()].join(", ")}` });
      const since = Number(url.searchParams.get("since") ?? 0);
      const lines = fn.logLines.filter((l) => l.seq > since);
      return json(200, { function: name, next: fn.logSeq, lines });
    }
    return json(404, { message: "Not Found" });
  }

  stats() {
    const out = {};
    for (const [name, fn] of this.fns) {
      const d = [...fn.stats.durations].sort((a, b) => a - b);
      const q = (p) => (d.length ? d[Math.min(d.length - 1, Math.floor(p * d.length))] : null);
      const { durations, durationTotalMs, cpuTotalMs, cpuCount, ...rest } = fn.stats;
      // total: every invocation since start; count/max/p50/p95: the last MAX_DURATIONS invocations
      out[name] = { ...rest, environments: fn.idle.length + fn.busy.size, busy: fn.busy.size, nodeVersions: [...fn.nodeVersions],
        durationMs: { count: d.length, total: durationTotalMs, max: d.length ? d[d.length - 1] : null, p50: q(0.5), p95: q(0.95) },
        cpuMs: { count: cpuCount, total: cpuTotalMs } };
    }
    return out;
  }

  matchRoute(method, path) {
    const segs = path.split("/").filter(Boolean);
    let pathMatched = false;
    for (const r of this.cfg.api.routes) {
      const rs = r.resource.split("/").filter(Boolean);
      if (rs.length !== segs.length) continue;
      const params = {};
      let ok = true;
      for (let i = 0; i < rs.length; i++) {
        const p = rs[i].match(/^\{(.+)\}$/);
        if (p) { if (!segs[i]) { ok = false; break; } params[p[1]] = decodeURIComponent(segs[i]); }
        else if (rs[i] !== segs[i]) { ok = false; break; }
      }
      if (!ok) continue;
      pathMatched = true;
      if (r.method === method || r.method === "ANY") return { route: r, params };
    }
    return { route: null, pathMatched };
  }

  async handleRestApi(req, res, url, body, json) {
    const api = this.cfg.api;
    let path = url.pathname;
    if (api.stage) {
      if (path === `/${api.stage}` || path.startsWith(`/${api.stage}/`)) path = path.slice(api.stage.length + 1) || "/";
      else if (api.requireStage) return json(403, { message: "Forbidden" }, { "x-amzn-errortype": "ForbiddenException" });
    }
    // the API's MISSING_AUTHENTICATION_TOKEN gateway response (tools/local/translators.py missing_route_response):
    // API Gateway answers with it both a path or method the API does not have and an unsigned request to an AWS_IAM
    // method (https://repost.aws/knowledge-center/api-gateway-authentication-token-errors)
    const missing = api.missingRoute ?? { status: 403, body: { message: "Missing Authentication Token" } };
    const missingToken = () => json(missing.status, missing.body, { "x-amzn-errortype": "MissingAuthenticationTokenException" });
    const { route } = this.matchRoute(req.method, path);
    if (!route) return missingToken();
    let identity = null;
    if (route.authorization === "AWS_IAM") {
      // Only the header's presence and shape are checked: the signature is NOT verified (README.md, "HTTP endpoints").
      const cred = sigV4Credential(req.headers, this.region);
      if (cred.missing) return missingToken();
      if (cred.problem) return json(403, { message: cred.problem }, { "x-amzn-errortype": "IncompleteSignatureException" });
      identity = { accessKey: cred.accessKey };
    }
    if (api.apiKey && route.apiKeyRequired && req.headers["x-api-key"] !== api.apiKey) {
      return json(403, { message: "Forbidden" }, { "x-amzn-errortype": "ForbiddenException" });
    }
    const event = this.apiGatewayEvent(req, url, path, body, route, identity);
    let timer;
    const r = await Promise.race([
      this.invoke(route.function, event), // keeps running after a 504, as the Lambda function does behind API Gateway
      new Promise((ok) => { timer = setTimeout(() => ok({ apiTimeout: true }), api.integrationTimeoutMs); }),
    ]);
    clearTimeout(timer);
    if (r.apiTimeout) {
      log(`${route.function} did not answer ${req.method} ${route.resource} within ${api.integrationTimeoutMs} ms: 504`);
      return json(504, { message: "Endpoint request timed out" }, { "x-amzn-requestid": event.requestContext.requestId });
    }
    const out = r.result;
    if (r.error || !out || typeof out !== "object" || typeof out.statusCode !== "number") {
      if (r.error) log(`${route.function} failed behind ${req.method} ${route.resource}: ${r.error.errorType}: ${r.error.errorMessage}`);
      else log(`${route.function} returned a malformed proxy response behind ${req.method} ${route.resource}: ${JSON.stringify(out)?.slice(0, 500)}`);
      return json(502, { message: "Internal server error" }, { "x-amzn-requestid": event.requestContext.requestId, "x-amzn-errortype": "InternalServerErrorException" });
    }
    const headers = { "x-amzn-requestid": event.requestContext.requestId };
    for (const [k, v] of Object.entries(out.multiValueHeaders ?? {})) headers[k.toLowerCase()] = v;
    for (const [k, v] of Object.entries(out.headers ?? {})) headers[k.toLowerCase()] = String(v);
    if (!headers["content-type"]) headers["content-type"] = "application/json";
    res.writeHead(out.statusCode, headers);
    const b = out.body ?? "";
    res.end(out.isBase64Encoded ? Buffer.from(b, "base64") : typeof b === "string" ? b : JSON.stringify(b));
  }

  // Like API Gateway: a request body is binary (base64 in the proxy event) only when its Content-Type matches one of
  // the API's binaryMediaTypes; Content-Encoding plays no part (docs: api-gateway-payload-encodings). A binary
  // body sent under another type is decoded as UTF-8 text, as API Gateway would pass it.
  isBinary(headers) {
    const ctype = String(headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    return this.cfg.api.binaryMediaTypes.some((t) => {
      if (t === "*/*") return true;
      const [a, b] = t.toLowerCase().split("/");
      const [ca, cb] = ctype.split("/");
      return (a === "*" || a === ca) && (b === "*" || b === cb);
    });
  }

  apiGatewayEvent(req, url, path, body, route, iamIdentity = null) {
    const api = this.cfg.api;
    const headers = {};
    const multiValueHeaders = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i], v = req.rawHeaders[i + 1];
      headers[k] = headers[k] === undefined ? v : `${headers[k]},${v}`;
      (multiValueHeaders[k] ??= []).push(v);
    }
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const keys = [...new Set(url.searchParams.keys())];
    const qs = keys.length ? Object.fromEntries(keys.map((k) => [k, url.searchParams.getAll(k).at(-1)])) : null;
    const mqs = keys.length ? Object.fromEntries(keys.map((k) => [k, url.searchParams.getAll(k)])) : null;
    const binary = this.isBinary(lower);
    const { params } = this.matchRoute(route.method === "ANY" ? req.method : route.method, path);
    const stage = api.stage ?? "local";
    const now = new Date();
    return {
      resource: route.resource, path, httpMethod: req.method, headers, multiValueHeaders,
      queryStringParameters: qs, multiValueQueryStringParameters: mqs,
      pathParameters: params && Object.keys(params).length ? params : null, stageVariables: null,
      requestContext: {
        accountId: this.account, apiId: api.apiId, resourceId: "local", resourcePath: route.resource, stage,
        requestId: randomUUID(), extendedRequestId: randomUUID(), httpMethod: req.method, path: `/${stage}${path}`,
        protocol: `HTTP/${req.httpVersion}`, requestTime: now.toUTCString(), requestTimeEpoch: now.getTime(), domainName: lower.host ?? "127.0.0.1",
        identity: { sourceIp: req.socket.remoteAddress ?? "127.0.0.1", userAgent: lower["user-agent"] ?? null, apiKey: lower["x-api-key"] ?? null,
          apiKeyId: api.apiKey ? "localkey" : null, accessKey: iamIdentity?.accessKey ?? null, accountId: null, caller: null,
          cognitoIdentityId: null, user: null, userArn: null },
      },
      body: body.length ? (binary ? body.toString("base64") : body.toString("utf8")) : null,
      isBase64Encoded: body.length > 0 && binary,
    };
  }

  // ---- event sources -----------------------------------------------------------------------------------------------
  startEventSources() {
    for (const src of this.cfg.eventSources) {
      if (src.type === "schedule") {
        let running = false; // like EventBridge, fire on time; skip a tick only if the previous one is still running
        this.timers.push(setInterval(() => {
          if (running || this.stopped) return;
          running = true;
          this.trackAsync(this.invokeAsync(src.function, scheduledEvent(src, this.account, this.region), src)
            .catch((e) => log(`schedule ${src.function}: ${e.message}`)).finally(() => { running = false; }));
        }, src.everyMs));
        continue;
      }
      const n = src.type === "sqs" ? src.maximumConcurrency : (src.pollers ?? 1);
      for (let i = 0; i < n; i++) this.pollers.push(this.pollLoop(src).catch((e) => log(`poller ${src.queueUrl} stopped: ${e.stack ?? e}`)));
    }
  }

  async receive(src, max, waitSeconds) {
    const { Messages } = await this.sqs.send(new ReceiveMessageCommand({
      QueueUrl: src.queueUrl, MaxNumberOfMessages: Math.min(10, max), WaitTimeSeconds: waitSeconds,
      ...(src.type === "sqs" ? {} : { VisibilityTimeout: this.shimVisibility(src) }),
      MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"],
    }), { abortSignal: this.abort.signal });
    return Messages ?? [];
  }

  // A shim message stays invisible while its async invocation (all attempts, waiting for a free environment
  // included) may still run, so it is never delivered twice while in progress.
  shimVisibility(src) {
    const fn = this.fns.get(src.function);
    const a = { ...fn.async, ...Object.fromEntries(Object.entries(src).filter(([k, v]) => ["maximumRetryAttempts", "retryDelayMs"].includes(k) && v !== undefined)) };
    const attempts = a.maximumRetryAttempts + 1;
    const perBatch = 10 * attempts * fn.timeout + (a.retryDelayMs / 1000) * (attempts * (attempts - 1)) / 2; // 10 messages share the pool
    return Math.min(43_200, Math.ceil(perBatch / fn.concurrency) + 60);
  }

  async deleteMessages(src, msgs) {
    for (let i = 0; i < msgs.length; i += 10) {
      const chunk = msgs.slice(i, i + 10);
      const out = await this.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: src.queueUrl,
        Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle })) }));
      for (const f of out.Failed ?? []) log(`delete failed on ${src.queueUrl}: ${f.Code} ${f.Message}`);
    }
  }

  async pollLoop(src) {
    const { Attributes } = await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: src.queueUrl, AttributeNames: ["QueueArn"] }));
    const arn = Attributes.QueueArn;
    const wait = src.waitSeconds ?? 1;
    while (!this.stopped) {
      let msgs;
      try {
        if (src.type === "sqs") {
          // ESM batching: collect up to batchSize messages, or until the batching window closes.
          msgs = await this.receive(src, src.batchSize, wait);
          if (msgs.length && src.batchSize > msgs.length && src.maximumBatchingWindowSeconds > 0) {
            const closes = Date.now() + src.maximumBatchingWindowSeconds * 1000;
            while (!this.stopped && msgs.length < src.batchSize && Date.now() < closes) {
              const more = await this.receive(src, src.batchSize - msgs.length, Math.max(0, Math.min(1, Math.floor((closes - Date.now()) / 1000))));
              msgs.push(...more);
              if (!more.length && Date.now() < closes) await sleep(Math.min(100, closes - Date.now()), this.abort.signal);
            }
          }
        } else {
          msgs = await this.receive(src, 10, wait);
        }
      } catch (e) {
        if (this.stopped) break;
        log(`poll error on ${src.queueUrl}: ${e.name}: ${e.message}`);
        await sleep(500, this.abort.signal);
        continue;
      }
      if (!msgs.length) continue;
      if (this.stopped) break; // not processed: the messages come back after their visibility timeout
      try {
        if (src.type === "sqs") await this.deliverSqsBatch(src, arn, msgs);
        else await this.deliverShimMessages(src, msgs);
      } catch (e) {
        if (!this.stopped) log(`delivery error on ${src.queueUrl}: ${e.stack ?? e}`);
      }
    }
  }

  async deliverSqsBatch(src, arn, msgs) {
    const r = await this.invoke(src.function, { Records: msgs.map((m) => sqsRecord(m, arn, this.region)) });
    let ok;
    if (r.error) {
      ok = []; // whole batch fails: nothing deleted, everything returns after the visibility timeout (and may redrive)
      log(`${src.function} failed on a batch of ${msgs.length}: ${r.error.errorType}: ${r.error.errorMessage}`);
    } else if (src.reportBatchItemFailures && r.result && Array.isArray(r.result.batchItemFailures)) {
      const ids = new Set(msgs.map((m) => m.MessageId));
      const failed = new Set(r.result.batchItemFailures.map((f) => f?.itemIdentifier));
      if ([...failed].some((id) => !ids.has(id))) {
        ok = []; // Lambda treats an invalid itemIdentifier as a complete failure
        log(`${src.function} reported an unknown or empty itemIdentifier: whole batch of ${msgs.length} retried`);
      } else ok = msgs.filter((m) => !failed.has(m.MessageId));
    } else ok = msgs;
    if (ok.length) await this.deleteMessages(src, ok);
  }

  async deliverShimMessages(src, msgs) {
    // Each shim message is one asynchronous invocation of the function (S3 notification or EventBridge rule target).
    const done = [];
    await Promise.all(msgs.map(async (m) => {
      let event;
      try { event = JSON.parse(m.Body); } catch (e) {
        log(`${src.type} shim ${src.queueUrl}: message ${m.MessageId} is not JSON (${e.message}); deleted: ${m.Body.slice(0, 500)}`);
        done.push(m); return;
      }
      if (src.type === "s3-notification" && event.Event === "s3:TestEvent") { done.push(m); return; }
      if (src.type === "eventbridge-rule" && event && typeof event === "object" && event.account === undefined) {
        event = { ...event, account: this.account, region: event.region ?? this.region, resources: event.resources ?? [] }; // moto omits `account`
      }
      await this.invokeAsync(src.function, event, { maximumRetryAttempts: src.maximumRetryAttempts, onFailureQueueUrl: src.onFailureQueueUrl, retryDelayMs: src.retryDelayMs });
      if (!this.stopped) done.push(m); // stopping mid-retry: leave it to come back
    }));
    if (done.length) await this.deleteMessages(src, done);
  }

  async close() {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.timers.forEach(clearInterval);
    const bounded = (p, ms) => Promise.race([p, sleep(ms)]);
    for (const fn of this.fns.values()) { for (const r of fn.waiters.splice(0)) r(); }
    await bounded(Promise.allSettled(this.pollers), 3000);
    for (const fn of this.fns.values()) for (const w of [...fn.idle, ...fn.busy]) { w.dead = true; w.child.kill("SIGKILL"); }
    await bounded(Promise.allSettled([...this.asyncInFlight]), 2000);
    if (this.server) { this.server.closeAllConnections?.(); await bounded(new Promise((r) => this.server.close(r)), 2000); }
    this.sqs.destroy();
  }
}

export function sqsRecord(m, arn, region) {
  const a = m.Attributes ?? {};
  return {
    messageId: m.MessageId, receiptHandle: m.ReceiptHandle, body: m.Body,
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? "1", SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? "AIDAIENQZJOLO23YVJ4VO", ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(a.MessageGroupId ? { MessageGroupId: a.MessageGroupId, MessageDeduplicationId: a.MessageDeduplicationId, SequenceNumber: a.SequenceNumber } : {}),
    },
    messageAttributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, {
      stringValue: v.StringValue, binaryValue: v.BinaryValue ? Buffer.from(v.BinaryValue).toString("base64") : undefined,
      stringListValues: [], binaryListValues: [], dataType: v.DataType }])),
    md5OfBody: m.MD5OfBody, eventSource: "aws:sqs", eventSourceARN: arn, awsRegion: region,
  };
}

export function scheduledEvent(src, account, region) {
  return { version: "0", id: randomUUID(), "detail-type": "Scheduled Event", source: "aws.events", account,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), region,
    resources: [`arn:aws:events:${region}:${account}:rule/${src.ruleName ?? "schedule"}`], detail: {} };
}

// CLI
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const cfgPath = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--ready-file");
  const ri = args.indexOf("--ready-file");
  const readyFile = ri >= 0 ? args[ri + 1] : null;
  if (!cfgPath) { log("usage: node lambda-host.mjs <config.json> [--ready-file <path>]"); process.exit(2); }
  let host;
  try {
    host = new LambdaHost(normaliseConfig(JSON.parse(readFileSync(cfgPath, "utf8")), dirname(resolve(cfgPath))));
  } catch (e) { log(e instanceof ConfigError ? e.message : `cannot load ${cfgPath}: ${e.message}`); process.exit(2); }
  let stopping = false;
  const stop = async (sig) => {
    if (stopping) return; stopping = true;
    log(`${sig}: stopping`);
    const hard = setTimeout(() => process.exit(0), 8000); hard.unref();
    await host.close();
    process.exit(0);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  const parent = process.ppid; // the parent dying without stopping us (e.g. SIGKILL) must not leave us behind
  setInterval(() => { if (process.ppid !== parent) stop("parent exited"); }, 1000).unref();
  const port = await host.listen();
  host.startEventSources();
  const info = { port, pid: process.pid, url: `http://127.0.0.1:${port}`, functions: [...host.fns.keys()] };
  if (readyFile) { writeFileSync(`${readyFile}.tmp`, JSON.stringify(info)); renameSync(`${readyFile}.tmp`, readyFile); }
  log(`listening on http://127.0.0.1:${port} functions=${info.functions.join(",")}`);
}
