// Lints data/openapi.json with Redocly's CLI (tests/web/redocly.yaml): any
// error or warning fails. Also checks that every route the server answers is
// documented.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.SOURCE_ROOT ?? join(here, '..', '..');
const redocly = join(here, 'node_modules', '.bin', 'redocly');
const spec = join(root, 'data', 'openapi.json');
let failures = 0;
let passed = 0;

if (!existsSync(redocly)) {
  console.error('FAIL: tests/web/node_modules is missing; run: npm ci --prefix tests/web');
  process.exit(1);
}

let output;
try {
  output = execFileSync(redocly, ['lint', '--config', join(here, 'redocly.yaml'), '--format=json', spec],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
} catch (error) {
  output = error.stdout;
}
const report = JSON.parse(output);
for (const problem of report.problems) {
  failures++;
  const where = problem.location?.[0]?.pointer ?? '';
  console.error(`FAIL: ${problem.severity} ${problem.ruleId}: ${problem.message} ${where}`);
}
if (report.problems.length === 0) passed++;

// every literal route of the router has a path in the document
const server = readFileSync(join(root, 'src', 'rest', 'em-rest-server.c'), 'utf8');
const documented = new Set(Object.keys(JSON.parse(readFileSync(spec, 'utf8')).paths));
for (const match of server.matchAll(/g_str_equal \(path, "([^"]+)"\)/g)) {
  if (documented.has(match[1])) {
    passed++;
  } else {
    failures++;
    console.error(`FAIL: the server answers ${match[1]}, which data/openapi.json does not document`);
  }
}
for (const path of ['/tasks/{id}', '/tasks/{id}/image', '/dashboard/{file}', '/']) {
  if (documented.has(path)) passed++;
  else { failures++; console.error(`FAIL: ${path} is not documented`); }
}

console.log(`${passed} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
