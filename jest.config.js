// Jest runs in native ESM mode (NODE_OPTIONS=--experimental-vm-modules, set by `npm test`)
// because Nest 12 packages are ESM-only. TypeScript is transformed by @swc/jest.
// `npm test` also gives Node an 8 GB heap: on a 2-core machine Jest runs every suite in one
// process, and in ESM mode it keeps each suite's modules to the end: about 3.5 GB for 98 suites,
// near Node's default limit (one CI run died of it).
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
};
