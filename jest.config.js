// Jest runs in native ESM mode (NODE_OPTIONS=--experimental-vm-modules, set by `npm test`)
// because Nest 12 packages are ESM-only. TypeScript is transformed by @swc/jest.
// In ESM mode Jest keeps each suite's modules until its process ends: run in one process (what it
// does by default on 2 cores), 98 suites grew it to about 3.5 GB, where garbage collection took
// seconds and slowed the heaviest tests past their timeouts (and one CI run died out of memory).
// Workers that are replaced once they hold 1.5 GB keep every process small; `npm test` also gives
// Node an 8 GB heap as a margin.
import { readFileSync } from 'node:fs';

const swcConfig = JSON.parse(readFileSync(new URL('./.swcrc.json', import.meta.url), 'utf8'));

/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swcConfig, swcrc: false }] },
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // MCP-Nest's CommonJS build require()s the ESM-only Nest 12, which Jest's ESM mode cannot load;
    // its shipped TypeScript sources load fine once transformed.
    '^@rekog/mcp-nest$': '<rootDir>/node_modules/@rekog/mcp-nest/src/index.ts',
    // The sample app imports the library by its package name, as users do; tests run the sources.
    '^nestjs-mcp-rate-limit$': '<rootDir>/src/index.ts',
  },
  transformIgnorePatterns: ['/node_modules/(?!@rekog/mcp-nest/)'],
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testTimeout: 30000,
  maxWorkers: 2,
  workerIdleMemoryLimit: '1500MB',
};
