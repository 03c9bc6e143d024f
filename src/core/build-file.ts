import { fileURLToPath } from 'node:url';

/**
 * The file of this very module as loaded (`…/dist/esm/core/build-file.js`, its CommonJS twin, or
 * the source under test): what the package finds its own files by (the Lua twins, next to it in
 * `algorithms/`) and names its copy by. CommonJS defines `__filename`; ES modules do not, and
 * `import.meta` cannot be written in a file also compiled to CommonJS, so they read the raw V8
 * call site of this function, which names the file actually loaded even when source maps rewrite
 * stack strings.
 */
export function buildFile(): string | undefined {
  if (typeof __filename === 'string') return __filename;
  const original = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, callSites) => callSites;
    const callSites = new Error().stack as unknown as NodeJS.CallSite[] | undefined;
    const fileName = callSites?.[0]?.getFileName();
    if (fileName === undefined || fileName === null) return undefined;
    return fileName.startsWith('file:') ? fileURLToPath(fileName) : fileName;
  } catch {
    return undefined;
  } finally {
    Error.prepareStackTrace = original;
  }
}
