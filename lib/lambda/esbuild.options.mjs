import { fileURLToPath } from "node:url";

// The esbuild options every bundle of lib/lambda is built with (the handlers in build.mjs, the bench entry points
// in bench/build.mjs), so the benchmarks measure the cores exactly as they ship: one minified ESM file for Lambda's
// node18 runtime, its dependencies (AWS SDK v3, pinned) bundled in.

/**
 * esbuild options bundling `entryPoint` into the single file `outfile`.
 * @param {string} entryPoint the TypeScript entry point
 * @param {string} outfile the bundle to write
 * @returns {import("esbuild").BuildOptions}
 */
export function bundleOptions(entryPoint, outfile) {
  return {
    entryPoints: [entryPoint],
    outfile,
    bundle: true,
    platform: "node",
    target: "node18",
    format: "esm",
    minify: true,
    treeShaking: true,
    legalComments: "none",
    mainFields: ["module", "main"],
    // Lambda's credentials are in the environment: the SDK's whole default chain is not bundled
    // (src/adapters/lambda-credentials.ts says why and what it saves).
    alias: { "@aws-sdk/credential-provider-node": fileURLToPath(new URL("./src/adapters/lambda-credentials.ts", import.meta.url)) },
    // CJS dependencies (aws-xray-sdk-core, ...) call require(); ESM has none without this banner.
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
    logLevel: "warning",
  };
}
