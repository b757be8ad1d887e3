// Bundles the bench entry points like the handlers (esbuild, ESM, node18, minified) into lib/lambda/dist/bench/
// (git-ignored), so the cores are measured as they ship. Usage: node bench/build.mjs
import { build } from "esbuild";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const ENTRIES = ["cpu", "naive"];
export const OUT_DIR = resolve(here, "../dist/bench");

mkdirSync(OUT_DIR, { recursive: true });
for (const name of ENTRIES) {
  await build({
    entryPoints: [join(here, `${name}.ts`)],
    outfile: join(OUT_DIR, `${name}.mjs`),
    bundle: true,
    platform: "node",
    target: "node18",
    format: "esm",
    minify: true,
    treeShaking: true,
    legalComments: "none",
    mainFields: ["module", "main"],
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
    logLevel: "warning",
  });
}
console.log(`bench bundles: ${ENTRIES.map((e) => join(OUT_DIR, `${e}.mjs`)).join(", ")}`);
