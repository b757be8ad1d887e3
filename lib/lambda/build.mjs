// Bundles each handler into one ESM file for Lambda's node18 runtime (AWS SDK v3 bundled, pinned),
// written where the Python package ships them: sdk/python/market_data_pipeline/handlers/<fn>/index.mjs.
// The bundles are committed (every install path ships them without Node.js); the output is deterministic, and
// tests/package/test_bundles.py rebuilds into a temporary directory (`node build.mjs --outdir <dir>`) and compares.
import { build } from "esbuild";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { bundleOptions } from "./esbuild.options.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const PACKAGE_DIR = resolve(here, "../../sdk/python/market_data_pipeline");
// The one list of the functions (function name -> handler), shipped in the Python package (docs/design.md).
export const FUNCTIONS = Object.values(
  JSON.parse(readFileSync(join(PACKAGE_DIR, "data/functions.json"), "utf8")).functions,
);
export const OUT_DIR = join(PACKAGE_DIR, "handlers");

const { values } = parseArgs({ options: { outdir: { type: "string" } } });
const outDir = values.outdir ? resolve(values.outdir) : OUT_DIR;

for (const fn of FUNCTIONS) {
  const outfile = join(outDir, fn, "index.mjs");
  mkdirSync(dirname(outfile), { recursive: true });
  await build(bundleOptions(join(here, "src/handlers", `${fn}.ts`), outfile));
  console.log(`${fn}: ${outfile} (${(statSync(outfile).size / 1024).toFixed(1)} KB)`);
}
