// Bundles each handler into one ESM file for Lambda's node18 runtime (AWS SDK v3 bundled, pinned),
// written where the Python package ships them: sdk/python/market_data_pipeline/handlers/<fn>/index.mjs.
import { build } from "esbuild";
import { mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const FUNCTIONS = ["ingestion", "processor", "aggregator", "query"];
export const OUT_DIR = resolve(here, "../../sdk/python/market_data_pipeline/handlers");

for (const fn of FUNCTIONS) {
  const outfile = join(OUT_DIR, fn, "index.mjs");
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(here, "src/handlers", `${fn}.ts`)],
    outfile,
    bundle: true,
    platform: "node",
    target: "node18",
    format: "esm",
    minify: true,
    treeShaking: true,
    legalComments: "none",
    mainFields: ["module", "main"],
    // CJS dependencies (aws-xray-sdk-core, ...) call require(); ESM has none without this banner.
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
    logLevel: "warning",
  });
  console.log(`${fn}: ${outfile} (${(statSync(outfile).size / 1024).toFixed(1)} KB)`);
}
