// Cold-start probe (issue 6, part 3): run in a FRESH node process; imports one bundle (argv[2]) and prints
// {"bootMs": ms from process start to before the import, "importMs": wall duration of the import, "importCpuMs": CPU
// time (user + system) the import used - far less disturbed by a busy machine than the wall time} as JSON.
// Without an argument nothing is imported (the baseline). Usage: node bench/import_bundle.mjs [bundle.mjs]
import { pathToFileURL } from "node:url";

const c0 = process.cpuUsage();
const t0 = performance.now();
const file = process.argv[2];
if (file) {
  const mod = await import(pathToFileURL(file).href);
  if (typeof mod.handler !== "function") {
    process.stderr.write(`${file} exports no handler function\n`);
    process.exit(1);
  }
}
const t1 = performance.now();
const c = process.cpuUsage(c0);
process.stdout.write(`${JSON.stringify({ bootMs: t0, importMs: t1 - t0, importCpuMs: (c.user + c.system) / 1000 })}\n`);
