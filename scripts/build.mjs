// Dual build: ESM (dist/esm) and CommonJS (dist/cjs), each with its own type declarations.
// The package is "type": "module", so dist/cjs gets a package.json saying its .js files are CommonJS.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const tsc = join('node_modules', 'typescript', 'bin', 'tsc');
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.cjs.json'], { stdio: 'inherit' });
writeFileSync('dist/cjs/package.json', JSON.stringify({ type: 'commonjs' }) + '\n');

// Lua twins are read at run time from beside the compiled algorithms.
for (const format of ['esm', 'cjs']) {
  const from = join('src', 'core', 'algorithms');
  for (const file of readdirSync(from).filter((name) => name.endsWith('.lua'))) {
    const to = join('dist', format, 'core', 'algorithms', file);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(join(from, file), to);
  }
}
