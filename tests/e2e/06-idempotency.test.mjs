// Idempotency-Key on the create endpoints (API.md §6).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useServer, T, ids } from './lib/env.mjs';
import { caseBody, taskBody, assertOk, assertError, rawRequest, buildRequest, apiBase } from './lib/client.mjs';

const key = () => `idem-${randomUUID()}`;
const num = (refId) => Number(refId.slice(2));

describe('06 idempotency', () => {
  const ctx = useServer();

  it('same key + same body: the first response again, nothing new created', T, async () => {
    const k = key();
    const body = caseBody(ctx.cfg, { name: 'Retry me' });
    const first = await ctx.client.createCase(body, { headers: { 'idempotency-key': k } });
    assertOk(first);
    const again = await ctx.client.createCase(body, { headers: { 'idempotency-key': k } });
    assertOk(again, 'replay');
    assert.deepEqual(again.json, first.json);
    const third = await ctx.client.createCase(body, { headers: { 'idempotency-key': k } });
    assert.deepEqual(third.json, first.json);
    const next = await ctx.client.newCase(ctx.cfg);
    assert.equal(num(next.refId), num(first.json.refId) + 1, 'a replay must not create a record');
    assert.notEqual(next._id, first.json._id);
  });

  it('the replay works with a freshly signed token (same app)', T, async () => {
    const k = key();
    const body = caseBody(ctx.cfg);
    const first = await ctx.client.createCase(body, { headers: { 'idempotency-key': k }, claims: { sub: 'u-1' } });
    assertOk(first);
    const again = await ctx.client.createCase(body, { headers: { 'idempotency-key': k }, claims: { sub: 'u-1', jti: randomUUID() } });
    assertOk(again);
    assert.equal(again.json._id, first.json._id);
    assert.equal(again.json.refId, first.json.refId);
  });

  it('same key + different body → 409 idempotency_conflict, nothing created', T, async () => {
    const k = key();
    const first = await ctx.client.createCase(caseBody(ctx.cfg, { name: 'One' }), { headers: { 'idempotency-key': k } });
    assertOk(first);
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { name: 'Two' }), { headers: { 'idempotency-key': k } }), 409, 'idempotency_conflict');
    const next = await ctx.client.newCase(ctx.cfg);
    assert.equal(num(next.refId), num(first.json.refId) + 1);
  });

  it('two Idempotency-Key headers → 400, nothing created', T, async () => {
    // the first was used: a retry (or a proxy) that kept the other made a second record
    const [a, b] = [key(), key()];
    const body = JSON.stringify(caseBody(ctx.cfg));
    const r = await rawRequest(ctx.server.port, buildRequest({
      path: `${apiBase(ctx.app.streams[0])}createCase`,
      headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', ctx.client.token()],
        ['Idempotency-Key', a], ['Idempotency-Key', b]],
      body,
    }));
    r.conn.destroy();
    assert.equal(r.status, 400, `${r.statusLine} ${r.text.slice(0, 300)}`);
    const err = JSON.parse(r.text.slice(r.text.indexOf('{'))).errors[0];
    assert.equal(err.field, 'Idempotency-Key');
    for (const k of [a, b]) {
      const one = await ctx.client.createCase(JSON.parse(body), { headers: { 'idempotency-key': k } });
      assertOk(one);
      assert.ok(one.headers.get('etag'), `${k}: a new record, not a replay`);
    }
  });

  it('different keys with the same body create two records', T, async () => {
    const body = caseBody(ctx.cfg);
    const a = await ctx.client.createCase(body, { headers: { 'idempotency-key': key() } });
    const b = await ctx.client.createCase(body, { headers: { 'idempotency-key': key() } });
    assertOk(a);
    assertOk(b);
    assert.notEqual(a.json._id, b.json._id);
  });

  it('the same key from another app is independent', T, async () => {
    const other = await ctx.env.createApp({ account: ctx.app.account, streams: ctx.app.streams });
    const oc = ctx.server.client(other);
    const k = key();
    const body = caseBody(ctx.cfg);
    const a = await ctx.client.createCase(body, { headers: { 'idempotency-key': k } });
    const b = await oc.createCase(body, { headers: { 'idempotency-key': k } });
    assertOk(a);
    assertOk(b, 'other app, same key');
    assert.notEqual(b.json._id, a.json._id);
    assert.notEqual(b.json.refId, a.json.refId);
    // and a different body from the other app with that key is not a conflict with the first app's
    const c = await oc.createCase(caseBody(ctx.cfg, { name: 'different' }), { headers: { 'idempotency-key': key() } });
    assertOk(c);
  });

  it('createTask: same key + same body returns the first task; a different body is 409', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const k = key();
    const body = taskBody(ctx.cfg, theCase, { name: 'Once only' });
    const first = await ctx.client.createTask(body, { headers: { 'idempotency-key': k } });
    assertOk(first);
    const again = await ctx.client.createTask(body, { headers: { 'idempotency-key': k } });
    assertOk(again);
    assert.deepEqual(again.json, first.json);
    assertError(await ctx.client.createTask({ ...body, name: 'Twice' }, { headers: { 'idempotency-key': k } }), 409, 'idempotency_conflict');
    const next = await ctx.client.newTask(ctx.cfg, theCase);
    assert.equal(num(next.refId), num(first.json.refId) + 1);
  });

  it('the same key and body sent to another endpoint or stream of the app → 409, not the first record', T, async () => {
    // the hash covered the body alone: stream B's call replayed the case created in stream A
    const [s1, s2] = [ids.stream(), ids.stream()];
    const app = await ctx.env.createApp({ account: ctx.app.account, streams: [s1, s2] });
    const cfg = await ctx.env.streamConfig(s1);
    const c = ctx.server.client(app, s1);
    const k = key();
    const body = caseBody(cfg, { name: 'Stream A only' });
    const first = await c.createCase(body, { headers: { 'idempotency-key': k } });
    assertOk(first);
    assert.equal(first.json.iId, s1);
    assertError(await c.createCase(body, { headers: { 'idempotency-key': k }, stream: s2 }), 409, 'idempotency_conflict');
    assertError(await c.createTask(body, { headers: { 'idempotency-key': k } }), 409, 'idempotency_conflict');
    const again = await c.createCase(body, { headers: { 'idempotency-key': k } });
    assertOk(again, 'the first stream still replays');
    assert.equal(again.json._id, first.json._id);
  });

  it('concurrent requests with one key create one record', T, async () => {
    const k = key();
    const body = caseBody(ctx.cfg, { name: 'Concurrent retry' });
    const rs = await Promise.all(Array.from({ length: 10 }, () => ctx.client.createCase(body, { headers: { 'idempotency-key': k } })));
    const ok = rs.filter((r) => r.status === 200);
    assert.ok(ok.length >= 1, `no request succeeded: ${rs.map((r) => r.status)}`);
    for (const r of rs) if (r.status !== 200) assertError(r, 409, 'idempotency_conflict');
    assert.equal(new Set(ok.map((r) => r.json._id)).size, 1, 'one key produced several records');
    const next = await ctx.client.newCase(ctx.cfg);
    assert.equal(num(next.refId), num(ok[0].json.refId) + 1, 'concurrent same-key requests created extra records');
  });

  it('concurrent createTask into one case, keyed and not, all succeed (PostgreSQL deadlocked them: 503)', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const made = [];
    for (let round = 0; round < 6; round++) {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ctx.client.createTask(
        taskBody(ctx.cfg, theCase, { name: `round ${round} task ${i}` }),
        round % 3 === 1 && i % 2 ? {} : { headers: { 'idempotency-key': key() } },
      )));
      for (const r of answers) {
        assertOk(r, `round ${round}`);
        made.push(r.json._id);
      }
    }
    const after = await ctx.client.post('getTasks', { caseId: theCase._id, limit: 500 });
    assertOk(after);
    assert.deepEqual(after.json.results.map((d) => d._id).sort(), [...made].sort(), 'every task, once');
  });

  it('keys survive a server restart (they live in the database)', T, async () => {
    const k = key();
    const body = caseBody(ctx.cfg);
    const first = await ctx.client.createCase(body, { headers: { 'idempotency-key': k } });
    assertOk(first);
    const stopped = await ctx.server.stop('SIGTERM');
    assert.equal(stopped.code, 0);
    ctx.server = await ctx.env.startServer();
    ctx.client = ctx.server.client(ctx.app);
    const again = await ctx.client.createCase(body, { headers: { 'idempotency-key': k } });
    assertOk(again);
    assert.equal(again.json._id, first.json._id);
  });
});
