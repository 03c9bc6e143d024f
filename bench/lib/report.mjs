// Markdown rendering of benchmark sections. A section is
// { title, intro?: string[], tables?: [{ title?, columns, rows }], targets?: [{ name, value, target, met }], notes?: string[] }.
// A plain array of row objects (what other benchmark modules may return) is rendered as one table.
import { markdownTable } from './harness.mjs';

/** Turn whatever a benchmark module's run() returned into a section. */
export function normalizeSection(result, fallbackTitle) {
  if (Array.isArray(result)) return { title: fallbackTitle, tables: [tableOfObjects(result)] };
  if (result !== null && typeof result === 'object') {
    const tables = [...(result.tables ?? [])];
    if (Array.isArray(result.rows)) tables.unshift(tableOfObjects(result.rows, result.columns));
    return { ...result, title: result.title ?? fallbackTitle, tables };
  }
  return { title: fallbackTitle, notes: [`No results (run() returned ${String(result)}).`] };
}

function tableOfObjects(rows, columns) {
  if (rows.length > 0 && Array.isArray(rows[0])) return { columns: columns ?? [], rows };
  const names = columns ?? [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return { columns: names, rows: rows.map((row) => names.map((name) => cell(row[name]))) };
}

function cell(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') {
    return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2);
  }
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

/** Markdown for one section, headed `##`. */
export function renderSection(section) {
  const parts = [`## ${section.title}`];
  if (section.intro?.length) parts.push(section.intro.join('\n'));
  if (section.targets?.length) {
    parts.push(
      markdownTable(
        ['target', 'measured', 'goal', 'met'],
        section.targets.map((target) => [
          target.name,
          target.value,
          target.target,
          target.met ? 'yes' : '**no**',
        ]),
      ),
    );
  }
  for (const table of section.tables ?? []) {
    if (table.title) parts.push(`### ${table.title}`);
    parts.push(markdownTable(table.columns, table.rows));
  }
  if (section.notes?.length) parts.push(section.notes.map((note) => `- ${note}`).join('\n'));
  return parts.join('\n\n') + '\n';
}
