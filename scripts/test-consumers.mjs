// Consumer proof: pack the library as npm would publish it, install the tarball into small fixture
// apps (test/consumers/*) copied to temp directories, compile each with TypeScript and run its smoke
// test. Proves the published package works for a Nest 11 CommonJS app and a Nest 12 ESM app, and
// that a Nest 11 app on MCP-Nest 1.x, which no guard can limit, refuses to start (nest11-mcpnest1).
// A fixture with TypeScript in its own devDependencies (nest11-cjs: the latest, 7) is compiled and
// smoke-tested with that one too, and the README's CommonJS tsconfig must be the fixture's.
//
// Usage: node scripts/test-consumers.mjs [--skip-build] [--keep] [fixture...]
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const fixturesDir = join(root, 'test', 'consumers');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const args = process.argv.slice(2);
const skipBuild = args.includes('--skip-build');
const keep = args.includes('--keep');
const requested = args.filter((arg) => !arg.startsWith('--'));
const fixtures = readdirSync(fixturesDir, { withFileTypes: true })
  // Fixture apps have a package.json; `shared/` holds sources they symlink.
  .filter(
    (entry) => entry.isDirectory() && existsSync(join(fixturesDir, entry.name, 'package.json')),
  )
  .map((entry) => entry.name)
  .filter((name) => requested.length === 0 || requested.includes(name));
if (fixtures.length === 0) fail(`no fixture matches ${requested.join(', ')}`);

function fail(message) {
  console.error(`test:consumers: ${message}`);
  process.exit(1);
}

/** Run a command, echoing it; exit with its output when it fails. */
function run(command, commandArgs, cwd) {
  const started = performance.now();
  console.log(`$ ${[command, ...commandArgs].join(' ')}   (in ${cwd})`);
  const result = spawnSync(command, commandArgs, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    // The fixtures' own install must not inherit this repository's npm settings.
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`  (${seconds}s)`);
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    fail(
      `"${[command, ...commandArgs].join(' ')}" failed (exit ${result.status}) after ${seconds}s`,
    );
  }
  return { stdout: result.stdout, seconds };
}

/**
 * What ships besides the code: the licence, source maps that carry their sources (a map pointing
 * at src/ files the package does not contain only confuses debuggers), and declarations without
 * the members marked `@internal`.
 */
function checkPackageContents(tarball) {
  const unpacked = mkdtempSync(join(tmpdir(), 'mcprl-package-'));
  try {
    run('tar', ['-xzf', tarball, '-C', unpacked], root);
    const files = listFiles(join(unpacked, 'package'));
    if (!files.some((file) => file.endsWith('/package/LICENSE')))
      fail('the package has no LICENSE');
    for (const file of files.filter((name) => name.endsWith('.map'))) {
      const map = JSON.parse(readFileSync(file, 'utf8'));
      const carried = map.sourcesContent?.filter((content) => typeof content === 'string');
      if (carried?.length !== map.sources.length) fail(`${file} does not carry its sources`);
    }
    for (const file of files.filter((name) => name.endsWith('.d.ts'))) {
      if (readFileSync(file, 'utf8').includes('@internal')) fail(`${file} ships @internal members`);
    }
    console.log(`package contents ok (${files.length} files)`);
  } finally {
    rmSync(unpacked, { recursive: true, force: true });
  }
}

/**
 * The README shows the tsconfig of nest11-cjs as the CommonJS quick start's: the block fenced after
 * `<!-- tsconfig of test/consumers/<fixture> -->` must say what the fixture's tsconfig.json says,
 * so the tsconfig users copy is the one compiled here with TypeScript 6 and 7.
 */
function checkReadmeTsconfigs() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const marker = /<!-- tsconfig of test\/consumers\/([\w-]+) -->\s*```json\n([\s\S]*?)\n```/g;
  const shown = [...readme.matchAll(marker)];
  if (shown.length === 0) fail('README.md shows no fixture tsconfig (marker comment missing)');
  for (const [, fixture, block] of shown) {
    const actual = readFileSync(join(fixturesDir, fixture, 'tsconfig.json'), 'utf8');
    if (JSON.stringify(JSON.parse(block)) !== JSON.stringify(JSON.parse(actual))) {
      fail(
        `the tsconfig README.md shows for ${fixture} is not test/consumers/${fixture}/tsconfig.json`,
      );
    }
  }
  console.log(`README tsconfig ok (${shown.map(([, fixture]) => fixture).join(', ')})`);
}

/** The version of a package installed in `directory`'s node_modules. */
function packageVersion(directory, name) {
  return JSON.parse(readFileSync(join(directory, 'node_modules', name, 'package.json'), 'utf8'))
    .version;
}

function listFiles(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(directory, entry.name)) : [join(directory, entry.name)],
  );
}

const workDir = mkdtempSync(join(tmpdir(), 'mcprl-consumers-'));
const outcomes = [];
try {
  checkReadmeTsconfigs();
  if (!skipBuild) run('npm', ['run', 'build'], root);
  const packed = run('npm', ['pack', '--json', '--pack-destination', workDir], root);
  const tarball = join(workDir, JSON.parse(packed.stdout)[0].filename);
  console.log(`packed ${tarball}`);
  checkPackageContents(tarball);

  for (const fixture of fixtures) {
    const appDir = join(workDir, fixture);
    cpSync(join(fixturesDir, fixture), appDir, {
      recursive: true,
      dereference: true,
      filter: (source) => !/[\\/](node_modules|dist)$/.test(source),
    });
    const manifestPath = join(appDir, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    manifest.dependencies = {
      ...manifest.dependencies,
      'nestjs-mcp-rate-limit': `file:${tarball}`,
    };
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');

    // The local npm cache first: only what it lacks comes from the registry.
    const install = run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock'],
      appDir,
    );
    run(process.execPath, [tsc, '-p', 'tsconfig.json'], appDir);
    const smoke = run('npm', ['run', '--silent', 'smoke'], appDir);
    console.log(smoke.stdout.trimEnd().replace(/^/gm, `  [${fixture}] `));
    const compilers = [`typescript@${packageVersion(root, 'typescript')}`];
    // The fixture's own TypeScript, when it has one: the same sources, tsconfig and smoke test.
    if (manifest.devDependencies?.typescript !== undefined) {
      const ownTsc = join(appDir, 'node_modules', 'typescript', 'bin', 'tsc');
      run(process.execPath, [ownTsc, '-p', 'tsconfig.json', '--outDir', 'dist-own-tsc'], appDir);
      const ownSmoke = run(process.execPath, [join('dist-own-tsc', 'smoke.js')], appDir);
      const version = `typescript@${packageVersion(appDir, 'typescript')}`;
      console.log(ownSmoke.stdout.trimEnd().replace(/^/gm, `  [${fixture}, ${version}] `));
      compilers.push(version);
    }
    const versions = ['@nestjs/common', '@nestjs/core'].map(
      (name) => `${name}@${packageVersion(appDir, name)}`,
    );
    outcomes.push(
      `${fixture}: ok (${versions.join(', ')}; compiled with ${compilers.join(' and ')}; install ${install.seconds}s)`,
    );
  }
} finally {
  if (keep) console.log(`kept ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
}
console.log(`\nconsumer proof passed:\n${outcomes.map((line) => `  ${line}`).join('\n')}`);
