// OWASP API Security Top 10 (2023), API5: broken function-level authorisation. One row per
// attack: an app registered without the caseManagement scope (`--scope other`, and scope
// look-alikes) on every endpoint → 403 missing_scope, with nothing created or changed; scope
// claims inside the token do not grant it; every non-POST method on every API path → 405
// with `Allow: POST` (TRACE never echoes the request); path tricks and guessed admin paths
// never reach another stream's data or a hidden function.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, ids, T, H } from './lib/env.mjs';
import { assertOk, assertError, apiBase, caseBody, taskBody, rawRequest, buildRequest, asFetchLike } from './lib/client.mjs';
import { snapshot, assertUnchanged, CASE, TASK } from './lib/update.mjs';
import { LeakWatch, assertNoInternals, rawHead } from './lib/hostile.mjs';

describe('40 OWASP API5: function-level authorisation (scopes and methods)', () => {
  const leaks = new LeakWatch();
  const S1 = ids.stream();
  const S2 = ids.stream();
  const account = ids.account();
  let env, server, cfg, owner, noScope, theCase, task;
  const lookAlikes = {};
  const LOOK_ALIKE_SCOPES = ['casemanagement', 'CaseManagement', 'CASEMANAGEMENT', 'caseManagement ', ' caseManagement', 'caseManagementX', 'caseManagement.read', 'caseManagement,other', '*', 'Case Management Configuration'];

  before(async () => {
    env = await Env.create();
    const ownerApp = leaks.app(await env.createApp({ account, streams: [S1], org: ids.org() }));
    const noScopeApp = leaks.app(await env.createApp({ account, streams: [S1], scopes: ['other'] }));
    for (const s of LOOK_ALIKE_SCOPES) lookAlikes[s] = leaks.app(await env.createApp({ account, streams: [S1], scopes: [s] }));
    lookAlikes.__s2only = leaks.app(await env.createApp({ account, streams: [S2] }));
    cfg = await env.streamConfig(S1);
    server = await env.startServer();
    owner = leaks.client(server.client(ownerApp));
    noScope = leaks.client(server.client(noScopeApp));
    theCase = await owner.newCase(cfg, { name: 'scope target case' });
    task = await owner.newTask(cfg, theCase, { name: 'scope target task' });
  }, H);
  after(async () => { await env?.dispose(); }, H);

  const ENDPOINTS = [
    ['createCase', () => 'createCase', () => caseBody(cfg, { name: 'planted by a scopeless app' })],
    ['createTask', () => 'createTask', () => taskBody(cfg, theCase, { name: 'planted by a scopeless app' })],
    ['getCases', () => 'getCases', () => ({ limit: 500 })],
    ['getTasks', () => 'getTasks', () => ({ limit: 500, caseId: theCase._id })],
    ['updateCase/{id}', () => `updateCase/${theCase._id}`, () => ({ name: 'renamed by a scopeless app' })],
    ['updateTask/{id}', () => `updateTask/${task._id}`, () => ({ name: 'renamed by a scopeless app' })],
    ['getActivities/{case id}', () => `getActivities/${theCase._id}`, () => ({})],
    ['getActivities/{task id}', () => `getActivities/${task._id}`, () => ({})],
  ];

  async function counts() {
    const c = await owner.post('getCases', { limit: 1 });
    const t = await owner.post('getTasks', { limit: 1 });
    assertOk(c, 'owner getCases');
    assertOk(t, 'owner getTasks');
    return { cases: c.json.totalResults, tasks: t.json.totalResults };
  }

  describe('an app without the caseManagement scope (--scope other)', () => {
    for (const [name, ep, body] of ENDPOINTS) {
      it(`${name} → 403 missing_scope; nothing created or changed`, T, async () => {
        const n0 = await counts();
        const c0 = await snapshot(owner, CASE, theCase._id);
        const t0 = await snapshot(owner, TASK, task._id);
        const r = await noScope.post(ep(), body());
        assertError(r, 403, 'missing_scope');
        assertNoInternals(r, name);
        assert.ok(!r.text.includes('scope target'), `${name}: the 403 carries record data`);
        assert.deepEqual(await counts(), n0, `${name}: a record was created`);
        await assertUnchanged(owner, CASE, c0, name);
        await assertUnchanged(owner, TASK, t0, name);
      });
    }

    it('scope claims in the token (scope, scopes, scp, roles) do not grant the scope → 403 missing_scope', T, async () => {
      const claims = { scope: 'caseManagement', scopes: ['caseManagement'], scp: ['caseManagement'], roles: ['admin'], isAdmin: true };
      const bad = [];
      for (const [name, ep, body] of ENDPOINTS) {
        const r = await noScope.post(ep(), body(), { claims });
        if (r.status !== 403 || r.json?.errors?.[0]?.reason !== 'missing_scope') bad.push(`${name} → ${r.status} ${r.text.slice(0, 120)}`);
      }
      assert.deepEqual(bad, [], 'scope claims in the token were honoured');
    });

    it('the app\'s own stream and account are right: only the scope is missing (control: same request, scoped app → 200)', T, async () => {
      assertOk(await owner.post('getCases', { limit: 1 }), 'owner');
      assertError(await noScope.post('getCases', { limit: 1 }), 403, 'missing_scope');
    });
  });

  describe('scope look-alikes are not the caseManagement scope', () => {
    for (const s of LOOK_ALIKE_SCOPES) {
      it(`--scope ${JSON.stringify(s)} → 403 missing_scope on createCase and getCases`, T, async () => {
        const c = leaks.client(server.client(lookAlikes[s]));
        assertError(await c.post('createCase', caseBody(cfg, { name: 'planted by a look-alike scope' })), 403, 'missing_scope');
        assertError(await c.post('getCases', { limit: 5 }), 403, 'missing_scope');
      });
    }
  });

  describe('non-POST methods on every API path → 405 with Allow: POST', () => {
    const METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'FOO'];
    for (const [name, ep, body] of ENDPOINTS) {
      it(`${name}: ${METHODS.join(', ')} → 405, Allow: POST, nothing changed`, T, async () => {
        const c0 = await snapshot(owner, CASE, theCase._id);
        const t0 = await snapshot(owner, TASK, task._id);
        const token = owner.token();
        const bad = [];
        for (const method of METHODS) {
          const withBody = !['GET', 'HEAD', 'TRACE', 'CONNECT'].includes(method);
          const bytes = buildRequest({
            method,
            path: `${apiBase(S1)}${ep()}`,
            headers: [['Host', `127.0.0.1:${server.port}`], ['Content-Type', 'application/json'], ['auth', token], ['accountId', account], ['Connection', 'close']],
            body: withBody ? JSON.stringify(body()) : undefined,
          });
          if (method === 'HEAD') {
            // HEAD: a 405 head and no body
            const h = await rawHead(server.port, bytes);
            if (h.status !== 405) bad.push(`HEAD → ${h.statusLine}`);
            if (!/^\s*POST\s*$/i.test(h.headers.allow ?? '')) bad.push(`HEAD: Allow ${JSON.stringify(h.headers.allow)}`);
            continue;
          }
          let r;
          try {
            r = await rawRequest(server.port, bytes, 3000);
          } catch (e) {
            bad.push(`${method}: no answer (${e.message.slice(0, 80)})`);
            continue;
          }
          r.conn.destroy();
          if (r.status !== 405) { bad.push(`${method} → ${r.statusLine} ${r.text.slice(0, 100)}`); continue; }
          if (!/^\s*POST\s*$/i.test(r.headers.allow ?? '')) bad.push(`${method}: Allow ${JSON.stringify(r.headers.allow)}`);
          try { assertError(asFetchLike(r), 405, 'method_not_allowed'); } catch (e) { bad.push(`${method}: ${e.message.slice(0, 160)}`); }
          if (r.text.includes(token) || r.text.includes(token.split('.')[2])) bad.push(`${method}: the answer echoes the auth token`);
        }
        assert.deepEqual(bad, [], `${name}: methods not answered 405 + Allow: POST`);
        await assertUnchanged(owner, CASE, c0, name);
        await assertUnchanged(owner, TASK, t0, name);
      });
    }

    it('a lower-case "post" is not POST → 405 (or 400/501), never served', T, async () => {
      const r = await rawRequest(server.port, buildRequest({
        method: 'post',
        path: `${apiBase(S1)}createCase`,
        headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', owner.token()], ['Connection', 'close']],
        body: JSON.stringify(caseBody(cfg, { name: 'planted by lower-case post' })),
      }), 3000);
      r.conn.destroy();
      assert.ok([405, 400, 501].includes(r.status), `lower-case post: got ${r.statusLine}`);
    });

    it('X-HTTP-Method-Override headers are ignored: a POST stays a POST, a GET stays 405', T, async () => {
      const over = { 'x-http-method-override': 'DELETE', 'x-method-override': 'DELETE', 'x-http-method': 'DELETE' };
      assertOk(await owner.post('getCases', { limit: 1 }, { headers: over }), 'POST with overrides');
      const r = await owner.post('getCases', undefined, { method: 'GET', headers: { 'x-http-method-override': 'POST' } });
      assertError(r, 405, 'method_not_allowed');
    });
  });

  describe('path tricks and hidden functions', () => {
    const s2only = () => leaks.client(server.client(lookAlikes.__s2only, S2));

    const TRICKS = [
      ['"../" from the app\'s stream into another', () => `/caseManagement/api/public/analytics/${S2}/../${S1}/getCases`],
      ['"%2e%2e/" from the app\'s stream into another', () => `/caseManagement/api/public/analytics/${S2}/%2e%2e/${S1}/getCases`],
      ['"%2F" inside the stream segment', () => `/caseManagement/api/public/analytics/${S2}%2F..%2F${S1}/getCases`],
      ['a double slash before the stream', () => `/caseManagement/api/public/analytics//${S1}/getCases`],
      ['the stream twice', () => `/caseManagement/api/public/analytics/${S1}/${S2}/getCases`],
      ['";" path parameter with the other stream', () => `/caseManagement/api/public/analytics/${S1};${S2}/getCases`],
      ['a query string naming the other stream', () => `/caseManagement/api/public/analytics/${S1}/getCases?streamId=${S2}`],
      ['an upper-case endpoint', () => `/caseManagement/api/public/analytics/${S1}/GETCASES`],
      ['a percent-encoded endpoint', () => `/caseManagement/api/public/analytics/${S1}/%67etCases`],
    ];
    for (const [name, target] of TRICKS) {
      it(`${name} → never the other stream's records (404/403/400)`, T, async () => {
        const c = s2only();
        const r = await rawRequest(server.port, buildRequest({
          path: target(),
          headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', c.token()], ['accountId', account], ['Connection', 'close']],
          body: '{"limit":500}',
        }), 3000);
        r.conn.destroy();
        assert.ok(!r.text.includes(theCase._id) && !r.text.includes('scope target'), `${name}: the answer lists the other stream's records: ${r.statusLine} ${r.text.slice(0, 200)}`);
        if (r.status === 200) {
          // served as the app's own stream is fine, as long as it is its own data
          for (const d of r.json?.results ?? []) assert.equal(d.iId, S2, `${name}: a record of stream ${d.iId}`);
        } else {
          assert.ok([400, 403, 404].includes(r.status), `${name}: got ${r.statusLine}`);
        }
      });
    }

    const HIDDEN = ['/admin', '/admin/apps', '/apps', '/app/create', '/caseManagement/api/public/analytics/apps', `/caseManagement/api/public/analytics/${S1}/app`,
      `/caseManagement/api/public/analytics/${S1}/deleteCase/x`, `/caseManagement/api/public/analytics/${S1}/streamShow`, '/caseManagement/api/private/analytics', '/debug', '/.env', '/config', '/metrics/../admin'];
    it(`guessed admin and debug paths (${HIDDEN.length}) → 404 for POST and GET, with a genuine token`, T, async () => {
      const bad = [];
      for (const p of HIDDEN) {
        for (const method of ['POST', 'GET']) {
          const r = await rawRequest(server.port, buildRequest({
            method, path: p,
            headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', owner.token()], ['Connection', 'close']],
            body: method === 'POST' ? '{}' : undefined,
          }), 3000);
          r.conn.destroy();
          if (r.status !== 404 && r.status !== 405) bad.push(`${method} ${p} → ${r.statusLine}`);
        }
      }
      assert.deepEqual(bad, []);
    });
  });

  it('the server output (access log, stderr) carries no token or clientSecret of this file', T, () => {
    leaks.assertClean([server]);
  });
});
