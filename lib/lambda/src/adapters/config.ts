/** Client configuration shared by the adapters: honours AWS_ENDPOINT_URL (local stack, moto). */
export function clientConfig(): { forcePathStyle?: boolean } {
  return process.env.AWS_ENDPOINT_URL ? { forcePathStyle: true } : {};
}

/** Reads a required environment variable, failing with a clear message. */
export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}
