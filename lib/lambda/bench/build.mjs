// Bundles the bench entry points with the handlers' esbuild options (../esbuild.options.mjs) into lib/lambda/dist/bench/
// (git-ignored), so the cores are measured as they ship. Usage: node bench/build.mjs
import { build } from "esbuild";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleOptions } from "../esbuild.options.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const ENTRIES = ["cpu", "naive"];
export const OUT_DIR = resolve(here, "../dist/bench");

mkdirSync(OUT_DIR, { recursive: true });
for (const name of ENTRIES) {
  await build(bundleOptions(join(here, `${name}.ts`), join(OUT_DIR, `${name}.mjs`)));
}
console.log(`bench bundles: ${ENTRIES.map((e) => join(OUT_DIR, `${e}.mjs`)).join(", ")}`);
