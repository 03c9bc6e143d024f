// Every ```ts block of README.md must compile against the library's sources, as a user would write
// it: `nestjs-mcp-rate-limit` is mapped to src/index.ts, everything else resolves from node_modules.
// A block fenced as ```ts no-check is shown but not compiled (keep those rare).
import { beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '..', '..');

/** One fenced code block: its text and the README line of its first code line. */
interface CodeBlock {
  readonly line: number;
  readonly code: string;
}

/** The ```ts / ```typescript blocks of a markdown text, except those marked `no-check`. */
function typeScriptBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(\S*)\s*(.*)$/.exec(lines[index]);
    if (open === null) continue;
    const [, indent, fence, language, info] = open;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !lines[end].trimStart().startsWith(fence)) {
      body.push(lines[end].startsWith(indent) ? lines[end].slice(indent.length) : lines[end]);
      end++;
    }
    if (['ts', 'typescript'].includes(language) && !/\bno-check\b/.test(info)) {
      blocks.push({ line: index + 2, code: body.join('\n') });
    }
    index = end;
  }
  return blocks;
}

const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2024.d.ts'],
  types: ['node'],
  strict: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  baseUrl: root,
  paths: { 'nestjs-mcp-rate-limit': ['src/index.ts'] },
};

/** Type-check snippets (each its own module) in one program; diagnostics per snippet. */
function typeCheck(snippets: readonly string[]): string[][] {
  const fileNames = snippets.map((_, index) => join(root, 'test', 'readme', `__block${index}.ts`));
  // `export {}` makes every snippet a module, so top-level await works and names never clash.
  const sources = new Map(
    fileNames.map((name, index) => [name, `${snippets[index]}\nexport {};\n`]),
  );
  const host = ts.createCompilerHost(compilerOptions);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => sources.get(name) ?? readFile(name);
  host.fileExists = (name) => sources.has(name) || fileExists(name);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    const text = sources.get(name);
    if (text === undefined) return getSourceFile(name, languageVersion, onError, shouldCreate);
    return ts.createSourceFile(name, text, languageVersion, true);
  };
  const program = ts.createProgram(fileNames, compilerOptions, host);
  return fileNames.map((name) => {
    const file = program.getSourceFile(name);
    const diagnostics = [
      ...program.getSyntacticDiagnostics(file),
      ...program.getSemanticDiagnostics(file),
    ];
    return diagnostics.map((diagnostic) => {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      if (diagnostic.file === undefined || diagnostic.start === undefined) return message;
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      return `line +${line}: ${message}`;
    });
  });
}

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = typeScriptBlocks(readme);

describe('README.md code blocks', () => {
  let diagnostics: string[][];
  beforeAll(() => {
    diagnostics = typeCheck(blocks.map((block) => block.code));
  });

  test('the README shows the two set-up commands a newcomer runs', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });

  test('the README has TypeScript examples to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
  });

  test.each(blocks.map((block, index) => [block.line, index] as const))(
    'the block at README.md:%i compiles',
    (line, index) => {
      const errors = diagnostics[index].map((error) =>
        error.replace(/^line \+(\d+)/, (_, offset: string) => `README.md:${line + Number(offset)}`),
      );
      expect(errors).toEqual([]);
    },
  );
});

describe('the README checker itself', () => {
  test('finds ts blocks with their line and skips no-check and other languages', () => {
    const markdown = [
      '# t', // 1
      '```ts', // 2
      'const a = 1;', // 3
      '```', // 4
      '```bash', // 5
      'npm test', // 6
      '```', // 7
      '```ts no-check', // 8
      'partial(', // 9
      '```', // 10
      '```typescript', // 11
      'const b = 2;', // 12
      '```', // 13
    ].join('\n');
    expect(typeScriptBlocks(markdown)).toEqual([
      { line: 3, code: 'const a = 1;' },
      { line: 12, code: 'const b = 2;' },
    ]);
  });

  test('reports a block that does not compile, and accepts one that does', () => {
    const [broken, wrongOption, fine] = typeCheck([
      "import { FixedWindowRateLimit } from 'nestjs-mcp-rate-limit';\nconst n: number = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 1 });",
      "import { FixedWindowRateLimit } from 'nestjs-mcp-rate-limit';\nnew FixedWindowRateLimit({ maxCals: 1, perSeconds: 1 });",
      "import { FixedWindowRateLimit } from 'nestjs-mcp-rate-limit';\nnew FixedWindowRateLimit({ maxCalls: 1, perSeconds: 1 });",
    ]);
    expect(broken.join('\n')).toMatch(/line \+1: Type 'FixedWindowRateLimit' is not assignable/);
    expect(wrongOption.join('\n')).toMatch(/maxCals/);
    expect(fine).toEqual([]);
  });
});
