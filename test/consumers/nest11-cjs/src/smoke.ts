// Smoke test of the packed library in a Nest 11 CommonJS app: compiled by tsc to CommonJS, so every
// import below is a require() of the package's CommonJS build.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { runCoreSmoke, runNestSmoke } from './nest-app.js';
import { runTwoCopiesSmoke, type PackageCopy } from './two-copies.js';

async function main(): Promise<void> {
  const resolved = require.resolve('nestjs-mcp-rate-limit');
  assert.match(resolved, /[\\/]dist[\\/]cjs[\\/]index\.js$/, `resolved to ${resolved}`);
  await runCoreSmoke();
  console.log(`createRateLimiter via require(): ok (${resolved})`);
  for (const line of await runNestSmoke()) console.log(line);
  // The ES module build too, in the same process: import() of the package from CommonJS. Its
  // classes are others (TypeScript already types them apart: separate private declarations).
  const esm = (await import('nestjs-mcp-rate-limit')) as unknown as PackageCopy;
  for (const line of await runTwoCopiesSmoke(esm, 'ES module')) console.log(`two copies: ${line}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
