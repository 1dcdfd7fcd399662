// OWASP API Security Top 10 (2023), API1: broken object-level authorisation. One row per
// attack: every endpoint that takes a record id (createTask's caseId, updateCase, updateTask,
// getActivities) or lists records (getCases, getTasks), called by another tenant with the
// victim's ids. API.md §2: "A record of another stream or account is answered exactly as a
// record that does not exist: 404", so each answer is compared with the answer to a missing id
// (status, reason, field, message), and the victim's record is checked unchanged (ETag version
// and document, read by its owner).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, ids, T, H } from './lib/env.mjs';
import { taskBody, assertOk } from './lib/client.mjs';
import { snapshot, assertUnchanged, okDoc, CASE, TASK } from './lib/update.mjs';
import { LeakWatch, MISSING_ID, assertSameAsMissing, assertNoInternals } from './lib/hostile.mjs';

describe('40 OWASP API1: object-level authorisation (another tenant\'s ids answer 404 like missing ones)', () => {
  const S1 = ids.stream();
  const S2 = ids.stream();
  const X = ids.account();
  const Y = ids.account();
  const leaks = new LeakWatch();
  const v = {}; // the victim's records
  let env, server, owner, cfg1;
  const attackers = {};

  before(async () => {
    env = await Env.create();
    const ownerApp = leaks.app(await env.createApp({ account: X, streams: [S1], org: ids.org() }));
    const otherAccount = leaks.app(await env.createApp({ account: Y, streams: [S1], org: ids.org() }));
    const bothStreams = leaks.app(await env.createApp({ account: X, streams: [S1, S2], org: ids.org() }));
    const otherStreamOnly = leaks.app(await env.createApp({ account: X, streams: [S2], org: ids.org() }));
    cfg1 = await env.streamConfig(S1);
    const cfg2 = await env.streamConfig(S2);
    server = await env.startServer();
    owner = leaks.client(server.client(ownerApp, S1));

    // the victim's case and task, with activities, and unique names to search for
    const secret = `victim-${ids.user()}`;
    const c = await owner.newCase(cfg1, { name: `${secret} case` });
    const t = await owner.newTask(cfg1, c, { name: `${secret} task` });
    assertOk(await owner.post(`updateCase/${c._id}`, { desc: 'changed by the owner' }), 'owner updates the case');
    assertOk(await owner.post(`updateTask/${t._id}`, { desc: 'changed by the owner' }), 'owner updates the task');
    v.secret = secret;
    v.caseId = c._id;
    v.caseRef = c.refId;
    v.taskId = t._id;
    v.taskRef = t.refId;

    // the attackers, each with records of its own (so their lists are not trivially empty)
    const mk = async (name, app, stream, cfg) => {
      const client = leaks.client(server.client(app, stream));
      const mine = await client.newCase(cfg, { name: `${name} own case` });
      const myTask = await client.newTask(cfg, mine, { name: `${name} own task` });
      attackers[name] = { client, cfg, mine, myTask };
    };
    await mk('other account, same stream', otherAccount, S1, cfg1);
    await mk('same account, other stream (app of both streams)', bothStreams, S2, cfg2);
    await mk('same account, other stream (app of that stream only)', otherStreamOnly, S2, cfg2);
  }, H);
  after(async () => { await env?.dispose(); }, H);

  const ATTACKERS = [
    'other account, same stream',
    'same account, other stream (app of both streams)',
    'same account, other stream (app of that stream only)',
  ];

  /** Runs an attack with the victim's id and the same request with a missing id; compares. */
  async function probe(a, kind, attack, what) {
    const victimId = kind === CASE ? v.caseId : v.taskId;
    const missingId = MISSING_ID[kind]();
    const before = await snapshot(owner, kind, victimId);
    const got = await attack(victimId);
    const missing = await attack(missingId);
    assertSameAsMissing(got, missing, { gotId: victimId, missingId, what });
    assertNoInternals(got, what);
    await assertUnchanged(owner, kind, before, what);
    return got;
  }

  for (const who of ATTACKERS) {
    describe(`attacker: ${who}`, () => {
      const A = () => attackers[who];

      it('createTask with the victim\'s caseId and caseRefId → 404 like a missing case; no task is added', T, async () => {
        const a = A();
        await probe(a, CASE, (id) => a.client.createTask(taskBody(a.cfg, { _id: id, refId: v.caseRef }, { name: 'planted task' })), 'createTask');
        const own = await owner.post('getTasks', { caseId: v.caseId, limit: 500 });
        assertOk(own, 'owner getTasks');
        assert.deepEqual(own.json.results.map((x) => x._id), [v.taskId], 'the victim\'s case must still hold only its own task');
      });

      it('createTask with the victim\'s caseId and the attacker\'s own caseRefId → 404', T, async () => {
        const a = A();
        await probe(a, CASE, (id) => a.client.createTask(taskBody(a.cfg, { _id: id, refId: a.mine.refId }, { name: 'planted task' })), 'createTask (own caseRefId)');
      });

      it('updateCase/{victim case} with a change → 404 like a missing case; the case is unchanged', T, async () => {
        const a = A();
        await probe(a, CASE, (id) => a.client.post(`updateCase/${id}`, { name: 'pwned', status: { name: 'Closed' }, desc: 'pwned' }), 'updateCase');
      });

      it('updateCase/{victim case} with {} (a read through a no-op update) → 404; no document leaks', T, async () => {
        const a = A();
        const r = await probe(a, CASE, (id) => a.client.post(`updateCase/${id}`, {}), 'updateCase {}');
        assert.ok(!r.text.includes(v.secret), 'the answer carries the victim\'s data');
        assert.equal(r.headers.get('etag'), null, 'an ETag on a 404 would leak the victim\'s version');
      });

      it('updateTask/{victim task} with a change → 404 like a missing task; the task is unchanged', T, async () => {
        const a = A();
        await probe(a, TASK, (id) => a.client.post(`updateTask/${id}`, { name: 'pwned', currAssignee: { _id: 'u-mallory', name: 'Mallory' } }), 'updateTask');
      });

      it('updateTask/{victim task} with a stale If-Match → 404, never 412 (which would confirm the id exists)', T, async () => {
        const a = A();
        await probe(a, TASK, (id) => a.client.post(`updateTask/${id}`, { desc: 'pwned' }, { headers: { 'if-match': '"999"' } }), 'updateTask If-Match');
      });

      it('updateTask/{victim task} with {} → 404; no document leaks', T, async () => {
        const a = A();
        const r = await probe(a, TASK, (id) => a.client.post(`updateTask/${id}`, {}), 'updateTask {}');
        assert.ok(!r.text.includes(v.secret), 'the answer carries the victim\'s data');
      });

      it('getActivities/{victim case} → 404 like a missing id', T, async () => {
        const a = A();
        await probe(a, CASE, (id) => a.client.post(`getActivities/${id}`, {}), 'getActivities case');
      });

      it('getActivities/{victim task} → 404 like a missing id', T, async () => {
        const a = A();
        await probe(a, TASK, (id) => a.client.post(`getActivities/${id}`, { limit: 500 }), 'getActivities task');
      });

      it('getCases (unfiltered, by the victim\'s refId, by the victim\'s name) never lists the victim\'s case', T, async () => {
        const a = A();
        for (const body of [{ limit: 500 }, { searchText: v.caseRef, limit: 500 }, { searchText: v.secret, limit: 500 }, { name: v.secret, limit: 500 }]) {
          const r = await a.client.post('getCases', body);
          assertOk(r, `getCases ${JSON.stringify(body)}`);
          assert.ok(!r.json.results.some((d) => d._id === v.caseId), `getCases ${JSON.stringify(body)} lists the victim's case`);
          assert.ok(!r.text.includes(v.secret), `getCases ${JSON.stringify(body)} carries the victim's data`);
          for (const d of r.json.results) assert.equal(d.accountId, a.client.app.account, 'a result of another account');
          for (const d of r.json.results) assert.equal(d.iId, a.client.stream, 'a result of another stream');
        }
        const all = await a.client.post('getCases', { limit: 500 });
        const sameTenant = Object.values(attackers).filter((o) => o.client.app.account === a.client.app.account && o.client.stream === a.client.stream);
        assert.equal(all.json.totalResults, sameTenant.length, 'totalResults counts the cases of the attacker\'s own tenant only');
      });

      it('getTasks (caseId = the victim\'s case, by refId, by name) never lists the victim\'s task', T, async () => {
        const a = A();
        const byCase = await a.client.post('getTasks', { caseId: v.caseId, limit: 500 });
        const byMissing = await a.client.post('getTasks', { caseId: MISSING_ID.case(), limit: 500 });
        assertOk(byCase, 'getTasks caseId');
        assertOk(byMissing, 'getTasks missing caseId');
        assert.equal(byCase.json.totalResults, 0, 'getTasks by the victim\'s caseId must be empty');
        assert.deepEqual(byCase.json, byMissing.json, 'getTasks by the victim\'s caseId must answer like a missing caseId');
        for (const body of [{ limit: 500 }, { searchText: v.taskRef, limit: 500 }, { searchText: v.secret, limit: 500 }, { name: v.secret, limit: 500 }]) {
          const r = await a.client.post('getTasks', body);
          assertOk(r, `getTasks ${JSON.stringify(body)}`);
          assert.ok(!r.json.results.some((d) => d._id === v.taskId), `getTasks ${JSON.stringify(body)} lists the victim's task`);
          assert.ok(!r.text.includes(v.secret), `getTasks ${JSON.stringify(body)} carries the victim's data`);
        }
      });

      it('updateTask of the attacker\'s own task with caseId = the victim\'s case → 400 read_only; nothing moves', T, async () => {
        const a = A();
        const before = await snapshot(a.client, TASK, a.myTask._id);
        const victimBefore = await snapshot(owner, CASE, v.caseId);
        const r = await a.client.post(`updateTask/${a.myTask._id}`, { caseId: v.caseId, caseRefId: v.caseRef });
        assert.equal(r.status, 400, `expected 400, got ${r.status} ${r.text.slice(0, 300)}`);
        assert.equal(r.json.errors[0].reason, 'read_only');
        await assertUnchanged(a.client, TASK, before, 'attacker\'s task');
        await assertUnchanged(owner, CASE, victimBefore, 'victim\'s case');
      });
    });
  }

  it('after every attack the owner still reads both records as before (and the records kept their data)', T, async () => {
    const c = okDoc(await owner.post(`updateCase/${v.caseId}`, {}), 'owner reads the case');
    const t = okDoc(await owner.post(`updateTask/${v.taskId}`, {}), 'owner reads the task');
    assert.equal(c.doc.name, `${v.secret} case`);
    assert.equal(t.doc.name, `${v.secret} task`);
    assert.equal(c.doc.accountId, X);
    assert.equal(t.doc.iId, S1);
    assert.ok(!JSON.stringify(c.doc).includes('pwned') && !JSON.stringify(t.doc).includes('pwned'), 'an attack changed the records');
  });

  it('the server output (access log, stderr) carries no token or clientSecret of this file', T, () => {
    leaks.assertClean([server]);
  });
});
