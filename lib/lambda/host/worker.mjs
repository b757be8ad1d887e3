// One Lambda "execution environment": loads one handler module and runs one invocation at a time.
// Forked by lambda-host.mjs (IPC). Messages: host -> {type:"invoke", id, event, deadline, fn};
// worker -> {type:"ready", initMs} | {type:"initError", error} | {type:"result", id, cpuMs, result|error}
// (cpuMs: user + system CPU time of the worker process during the invocation, from process.cpuUsage()).
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const file = process.env._LOCAL_HANDLER_FILE;
const exportName = process.env._LOCAL_HANDLER_EXPORT || "handler";
delete process.env._LOCAL_HANDLER_FILE;
delete process.env._LOCAL_HANDLER_EXPORT;

// The host going away (even by SIGKILL) closes the IPC channel: never outlive it.
process.on("disconnect", () => process.exit(0));

const errorOf = (e) =>
  e instanceof Error
    ? { errorType: e.name || "Error", errorMessage: String(e.message), trace: String(e.stack || "").split("\n") }
    : { errorType: "Error", errorMessage: typeof e === "string" ? e : JSON.stringify(e) ?? String(e) };

let handler;
const initStart = performance.now();
try {
  if (!file) throw Object.assign(new Error("_LOCAL_HANDLER_FILE is not set"), { name: "Runtime.ImportModuleError" });
  const mod = await import(pathToFileURL(resolve(file)).href);
  handler = mod[exportName] ?? mod.default?.[exportName];
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${exportName} is not a function in ${file} (exports: ${Object.keys(mod).join(", ") || "none"})`), {
      name: "Runtime.HandlerNotFound",
    });
  }
  process.send({ type: "ready", initMs: performance.now() - initStart, nodeVersion: process.version });
} catch (e) {
  const err = errorOf(e);
  if (!String(err.errorType).startsWith("Runtime.")) err.errorType = "Runtime.ImportModuleError";
  process.send({ type: "initError", error: err }, () => process.exit(1));
}

let current = null; // the invocation in flight, for unhandled rejections
const END_MARK = "\u0001lambda-host-end "; // keep in sync with lambda-host.mjs
process.on("message", async (msg) => {
  if (!msg || msg.type !== "invoke") return;
  const { id, event, deadline, fn } = msg;
  const requestId = id;
  process.env._X_AMZN_TRACE_ID = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${requestId.replace(/-/g, "").slice(0, 24)};Parent=${requestId.replace(/-/g, "").slice(0, 16)};Sampled=0`;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.name,
    functionVersion: "$LATEST",
    memoryLimitInMB: String(fn.memory),
    invokedFunctionArn: `arn:aws:lambda:${fn.region}:${fn.account}:function:${fn.name}`,
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let settled = false;
  const cpu0 = process.cpuUsage(); // CPU time (user + system) of this invocation, reported with the result
  const reply = (p) => {
    if (settled) return;
    settled = true;
    current = null;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    // End-of-invocation markers: the host attributes every earlier output line to this invocation before answering.
    process.stdout.write(`${END_MARK}${id}\n`);
    process.stderr.write(`${END_MARK}${id}\n`);
    try {
      process.send({ type: "result", id, cpuMs, ...p });
    } catch (e) { // e.g. a BigInt in the result: Lambda cannot serialise it either
      process.send({ type: "result", id, cpuMs, error: { errorType: "Runtime.MarshalError", errorMessage: `Unable to marshal response: ${e.message}` } });
    }
  };
  current = reply;
  const callback = (err, res) => (err ? reply({ error: errorOf(err) }) : reply({ result: res === undefined ? null : res }));
  context.done = callback;
  context.succeed = (r) => callback(null, r);
  context.fail = (e) => callback(e ?? new Error("context.fail called"));
  try {
    const out = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
    if (out && typeof out.then === "function") reply({ result: (await out) ?? null });
    else if (handler.length < 3) reply({ result: out ?? null });
  } catch (e) {
    reply({ error: errorOf(e) });
  }
});

process.on("unhandledRejection", (e) => {
  console.error("Unhandled Promise Rejection", e);
  if (current) current({ error: { errorType: "Runtime.UnhandledPromiseRejection", errorMessage: String(e?.message ?? e) } });
  process.exit(128);
});
