// Smoke test of the packed library in a Nest 12 ESM app ("type": "module"): every import below is
// an ES module import of the package's ESM build.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runCoreSmoke, runNestSmoke } from './nest-app.js';
import { runTwoCopiesSmoke, type PackageCopy } from './two-copies.js';

const resolved = fileURLToPath(import.meta.resolve('nestjs-mcp-rate-limit'));
assert.match(resolved, /[\\/]dist[\\/]esm[\\/]index\.js$/, `resolved to ${resolved}`);
await runCoreSmoke();
console.log(`createRateLimiter via import: ok (${resolved})`);

for (const line of await runNestSmoke()) console.log(line);

// The CommonJS build too, in the same process: require() of the package from an ES module.
const cjs = createRequire(import.meta.url)('nestjs-mcp-rate-limit') as PackageCopy;
for (const line of await runTwoCopiesSmoke(cjs, 'CommonJS')) console.log(`two copies: ${line}`);
