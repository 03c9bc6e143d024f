// Import cycles in src, type-only imports included (ESLint's import-x/no-cycle skips those): the
// layers import downwards only (core ← mcp ← nest), so a newcomer can read each file knowing only
// the ones below it. Run by `npm run lint`; exits 1 and prints each cycle found.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(new URL('..', import.meta.url).pathname, 'src');

function sourceFiles(directory) {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** The files of src that `file` imports or re-exports, by relative specifier. */
function importsOf(file) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map(({ fileName }) => fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
}

const files = sourceFiles(root);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const cycles = new Set();
const state = new Map(); // file -> 'open' while on the path, 'done' after
const path = [];

function visit(file) {
  state.set(file, 'open');
  path.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === 'open') {
      const cycle = path.slice(path.indexOf(next)).map((entry) => relative(root, entry));
      cycles.add([...cycle, relative(root, next)].join(' → '));
    } else if (!state.has(next)) {
      visit(next);
    }
  }
  path.pop();
  state.set(file, 'done');
}

for (const file of files) if (!state.has(file)) visit(file);
for (const cycle of cycles) console.error(`import cycle: ${cycle}`);
if (cycles.size > 0) process.exit(1);
console.log(`no import cycles in src (${files.length} files)`);
