// `npm start`: build the library and the sample app, then run the sample MCP server.
// The sample imports the library by its package name, which resolves (through the package's own
// `exports` map) to the build in dist/, exactly as it would for an app that installed it.
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

console.log('Building the library (dist/) and the sample app (sample-app/dist/)...');
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], {
  cwd: root,
  stdio: 'inherit',
});
execFileSync(process.execPath, [tsc, '-p', join(root, 'sample-app', 'tsconfig.json')], {
  cwd: root,
  stdio: 'inherit',
});
await import(pathToFileURL(join(root, 'sample-app', 'dist', 'main.js')).href);
