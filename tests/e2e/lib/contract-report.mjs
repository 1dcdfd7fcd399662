// Sums what make e2e-contract checked (the lines each test process appended, lib/contract.mjs)
// and prints it. Fails when nothing went through Prism, so a broken proxy set-up cannot pass as
// "no violations".
import { readFileSync } from 'node:fs';

const file = process.argv[2];
let lines = [];
try {
  lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
} catch (e) {
  console.error(`e2e-contract: no statistics in ${file} (${e.message})`);
  process.exit(1);
}
const total = { proxied: 0, local: 0, proxies: 0, unproxied: 0, violations: 0, bypassed: {}, unchecked: {} };
for (const l of lines) {
  for (const k of ['proxied', 'local', 'proxies', 'unproxied', 'violations']) total[k] += l[k] ?? 0;
  for (const m of ['bypassed', 'unchecked']) {
    for (const [k, v] of Object.entries(l[m] ?? {})) total[m][k] = (total[m][k] ?? 0) + v;
  }
}
const list = (m) => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `    ${v} ${k}`).join('\n') || '    none';
const sum = (m) => Object.values(m).reduce((a, b) => a + b, 0);
console.log(`e2e-contract: ${lines.length} test files, ${total.proxies} Prism proxies (docs/openapi.yaml), ${total.unproxied} servers without one (41-slow-clients)
  ${total.proxied} requests and answers checked by Prism on the way
  ${total.local} answers checked in-process by Prism's validator: to raw-socket requests, to
  41-slow-clients, and to those of the following that got an answer (a killed server's do not)
  ${sum(total.bypassed)} requests sent around Prism because it cannot forward them unchanged:
${list(total.bypassed)}
  ${sum(total.unchecked)} answers no operation of the contract describes (counted, not checked):
${list(total.unchecked)}
  ${total.violations} contract violations`);
if (total.proxied === 0) {
  console.error('e2e-contract: no request went through Prism');
  process.exit(1);
}
if (total.violations > 0) process.exit(1);
