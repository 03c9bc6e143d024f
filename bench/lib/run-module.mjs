// Runs one benchmark module in this (fresh) process: imports it, awaits its run(), and writes the
// result as JSON to the file named by the second argument. Used by scripts/bench.mjs.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [modulePath, outputPath] = process.argv.slice(2);
const benchmark = await import(pathToFileURL(resolve(modulePath)).href);
if (typeof benchmark.run !== 'function') throw new Error(`${modulePath} exports no run()`);
const result = await benchmark.run();
writeFileSync(outputPath, JSON.stringify(result));
// Some clients and servers keep handles open; the result is written, so leave now.
process.exit(0);
