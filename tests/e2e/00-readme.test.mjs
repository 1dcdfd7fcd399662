// The README's quick start, run as written: its shell block is extracted from README.md and run
// by bash against a fresh server, with only the host:port, the binary's path and the database
// replaced (the README assumes `make run` in the repository root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { Env, BIN, T } from './lib/env.mjs';

const README = new URL('../../README.md', import.meta.url);

async function quickStartScript() {
  const text = await readFile(README, 'utf8');
  const section = text.split('## Quick start')[1];
  assert.ok(section, 'README has a "## Quick start" section');
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the quick start has a sh block');
  return m[1];
}

test('README quick start works as written', T, async () => {
  const env = await Env.create();
  try {
    const server = await env.startServer();
    let script = await quickStartScript();
    assert.match(script, /127\.0\.0\.1:8080/);
    script = script.replaceAll('127.0.0.1:8080', `127.0.0.1:${server.port}`).replaceAll('build/casemgr', BIN);
    const out = await new Promise((resolve, reject) => {
      execFile('bash', ['-euo', 'pipefail', '-c', script], {
        cwd: env.dir, timeout: 20_000, env: { ...process.env, CASEMGR_DB: env.db },
      }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout)));
    });
    assert.match(out, /created case ci-[0-9a-f-]+ \(CS000001\)/);
    assert.match(out, /^ti-[0-9a-f-]+ TS000001 of CS000001$/m);
  } finally {
    await env.dispose();
  }
});
