// The machine-readable contract (docs/openapi.yaml) through the Prism CLI itself:
// `prism proxy docs/openapi.yaml <server> --errors` lets a valid exchange of every endpoint pass
// unchanged, answers a request the contract refuses itself, and turns an answer that carries a
// member the contract does not name into an error. The last shows the check is live: a contract
// Prism could not compile would let everything through (make e2e-contract relies on it).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { useServer, T, H } from './lib/env.mjs';
import { apiBase, caseBody, taskBody } from './lib/client.mjs';
import { CONTRACT, PRISM_CLI } from './lib/contract.mjs';

/** Runs `prism proxy <contract> <upstream> --errors` on an ephemeral port; resolves {base, stop}. */
async function prismCli(contract, upstream) {
  const args = [PRISM_CLI, 'proxy', contract, upstream, '--host', '127.0.0.1', '--port', '0', '--cors', 'false', '--errors'];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let out = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`prism proxy: no listening line in 30 s\n${out.slice(-2000)}`)); }, 30_000);
    const onData = (d) => {
      out += d;
      const m = /Prism is listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`prism proxy exited (${code})\n${out.slice(-2000)}`)); });
  });
  proc.removeAllListeners('exit');
  proc.stdout.resume();
  proc.stderr.resume();
  return {
    base: `http://127.0.0.1:${port}`,
    log: () => out,
    stop: () => new Promise((resolve) => { proc.once('exit', resolve); proc.kill('SIGKILL'); }),
  };
}

/** A plain fetch (not the suite's request(), which would hold Prism's own answers to the contract). */
async function send(url, { method = 'POST', headers = {}, body } = {}) {
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

describe('50 the contract through prism proxy --errors', () => {
  const ctx = useServer();
  let prism;
  let call;
  before(async () => {
    prism = await prismCli(CONTRACT, ctx.server.direct);
    call = (endpoint, body, { token = ctx.client.token(), method } = {}) => send(`${prism.base}${apiBase(ctx.app.streams[0])}${endpoint}`, {
      method,
      headers: { 'content-type': 'application/json', accountid: ctx.app.account, ...(token ? { auth: token } : {}) },
      body,
    });
  }, H);
  after(async () => { await prism?.stop(); }, H);

  function passed(r, status, what) {
    assert.equal(r.headers.get('sl-violations'), null, `${what}: Prism found violations: ${r.headers.get('sl-violations')}`);
    assert.equal(r.status, status, `${what}: HTTP ${r.status} ${r.text.slice(0, 600)}`);
    assert.ok(r.headers.get('x-request-id'), `${what}: the server's answer (X-Request-Id) expected`);
  }

  it('a valid exchange of every endpoint passes unchanged, errors included', T, async () => {
    let r = await call('createCase', caseBody(ctx.cfg));
    passed(r, 200, 'createCase');
    const theCase = r.json;
    r = await call('createTask', taskBody(ctx.cfg, theCase, { name: 'Call back' }));
    passed(r, 200, 'createTask');
    const task = r.json;
    passed(await call(`updateCase/${theCase._id}`, { status: { name: 'In Progress' }, tags: ['vip'], dueDate: null }), 200, 'updateCase');
    passed(await call(`updateTask/${task._id}`, { currAssignee: { _id: 'u-1', name: 'Ann' }, taskIds: ['x'] }), 200, 'updateTask');
    passed(await call('getCases', { selectedColumns: ['name', 'tasks'], sortBy: { refId: 'asc' } }), 200, 'getCases (selectedColumns)');
    passed(await call('getTasks', { caseId: theCase._id }), 200, 'getTasks');
    r = await call(`getActivities/${theCase._id}`, {});
    passed(r, 200, 'getActivities');
    assert.equal(r.json.results.length, 1);
    for (const p of ['/healthz', '/readyz', '/metrics']) passed(await send(`${prism.base}${p}`, { method: 'GET' }), 200, p);
    passed(await call('getCases', undefined, { method: 'GET' }), 405, 'GET on an API path');
    passed(await call('getCases', {}, { token: 'not.a.jwt' }), 401, 'a bad token');
    passed(await call(`updateTask/${theCase._id}`, {}), 404, 'a case id as a task id');
    passed(await call('createCase', { ...caseBody(ctx.cfg), caseTmp: 'ctm-none' }), 400, 'an unknown template');
  });

  it('a request the contract refuses is answered by Prism, not forwarded', T, async () => {
    let r = await call('getCases', { limit: 10, bogus: true });
    assert.equal(r.status, 422, `HTTP ${r.status} ${r.text.slice(0, 600)}`);
    assert.match(r.text, /bogus/);
    assert.equal(r.headers.get('x-request-id'), null, 'the server never saw it');
    r = await call('getCases', {}, { token: null });
    assert.equal(r.status, 401, `no auth header: HTTP ${r.status} ${r.text.slice(0, 600)}`);
    assert.equal(r.headers.get('x-request-id'), null, 'the server never saw it');
  });
});

describe('50 a member the contract does not name is a violation', () => {
  const ctx = useServer();
  let prism;
  before(async () => {
    // the contract with `desc` taken out of a case's document: the server's desc is now a leak
    const yaml = createRequire(import.meta.url)('@stoplight/yaml');
    const doc = yaml.parse(readFileSync(CONTRACT, 'utf8'));
    const props = doc.components.schemas.CaseDocument.properties;
    assert.ok(props.desc, 'the contract names desc');
    delete props.desc;
    const file = join(ctx.env.dir, 'contract-without-desc.json');
    writeFileSync(file, JSON.stringify(doc));
    prism = await prismCli(file, ctx.server.direct);
  }, H);
  after(async () => { await prism?.stop(); }, H);

  it('an answer with it fails (500 from Prism naming the member)', T, async () => {
    const r = await send(`${prism.base}${apiBase(ctx.app.streams[0])}createCase`, {
      headers: { 'content-type': 'application/json', auth: ctx.client.token() },
      body: caseBody(ctx.cfg),
    });
    assert.equal(r.status, 500, `HTTP ${r.status} ${r.text.slice(0, 600)}`);
    assert.match(r.headers.get('content-type') ?? '', /problem\+json/);
    assert.match(r.text, /additional properties.*desc/);
  });
});
