// PostgreSQL only (DESIGN.md §4, docs/operations.md): two casemgr processes on one database, on
// different ports, behave as one server. Concurrent updates of different members of one record
// through both lose nothing, round after round; ids and refIds stay unique (and the counters
// leave no gap); an Idempotency-Key used through one process is honoured by the other; a jti
// replayed through the other process is refused. Runs in the PostgreSQL leg of `make test`
// (scripts/pg-test-cluster sets CASEMGR_E2E_PG); without it the file fails, never skips.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Env, PG_URL, ids, pool, psql, sleep, T, H } from './lib/env.mjs';
import { caseBody, assertOk, assertError } from './lib/client.mjs';
import { tokenFor, newJti } from './lib/jwt.mjs';
import { TASK, CASE, newPair, snapshot, getActivities, okDoc, update } from './lib/update.mjs';

const JTI_REPLAY_MSG = 'error verifying the jwt: possibly a replay';
const ROUNDS = 25;
const MEMBERS = {
  desc: (r) => `desc round ${r}`,
  tags: (r) => [`tag-${r}`, 'fixed'],
  sessIds: (r) => [`s-${r}`],
  convIds: (r) => [`c-${r}`],
  language: (r) => `l${r}`,
  source: (r) => `src-${r}`,
  channel: (r) => [`ch-${r}`],
  commentIds: (r) => [`cm-${r}`],
  participants: (r) => [{ _id: `u-${r}`, role: 'watcher' }],
  attachments: (r) => [{ name: `a${r}.txt`, size: r }],
  feedback: (r) => [{ score: r % 5 }],
  queues: (r) => [{ _id: `qu-${r}`, name: `Queue ${r}` }],
};
const num = (refId) => Number(refId.slice(2));
const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

describe('30 two casemgr processes on one PostgreSQL database', () => {
  if (!PG_URL) {
    it('needs PostgreSQL: run through `make test` or scripts/pg-test-cluster run -- ... with CASEMGR_E2E_PG', () => {
      assert.fail('CASEMGR_E2E_PG is not set: this file runs only in the PostgreSQL leg');
    });
    return;
  }

  // ctx mirrors useServer's (env, app, cfg, client) with a second server and client
  const ctx = {};
  let jtiApp;
  before(async () => {
    ctx.env = await Env.create();
    ctx.app = await ctx.env.createApp({ org: ids.org() });
    jtiApp = await ctx.env.createApp({ account: ctx.app.account, streams: ctx.app.streams, enforceJti: true });
    ctx.cfg = await ctx.env.streamConfig(ctx.app.streams[0]);
    ctx.a = await ctx.env.startServer(['--threads', '4']);
    ctx.b = await ctx.env.startServer(['--threads', '4']);
    assert.notEqual(ctx.a.port, ctx.b.port);
    ctx.server = ctx.a;
    ctx.client = ctx.a.client(ctx.app);
    ctx.clientB = ctx.b.client(ctx.app);
  }, H);
  after(async () => { await ctx.env?.dispose(); }, H);

  it(`updates of different members of one task through both processes at once, ${ROUNDS} rounds: none lost`, { timeout: 90_000 }, async () => {
    const { task } = await newPair(ctx);
    const id = task.doc._id;
    const names = Object.keys(MEMBERS);
    let base = task.version;
    for (let r = 0; r < ROUNDS; r++) {
      // every member through the process of its parity, all requests in flight together
      const res = await Promise.all(names.map((n, i) =>
        update(i % 2 ? ctx.clientB : ctx.client, TASK, id, { [n]: MEMBERS[n](r) })));
      res.forEach((x, i) => {
        assertOk(x, `round ${r} ${names[i]} through ${i % 2 ? 'B' : 'A'}`);
        assert.deepEqual(x.json[names[i]], MEMBERS[names[i]](r), `round ${r}: the response of ${names[i]} carries its value`);
      });
      const versions = res.map((x) => okDoc(x).version).sort((a, b) => a - b);
      assert.deepEqual(versions, range(names.length).map((i) => base + i), `round ${r}: each write its own version`);
      for (const c of [ctx.client, ctx.clientB]) {
        const snap = await snapshot(c, TASK, id);
        for (const n of names) assert.deepEqual(snap.doc[n], MEMBERS[n](r), `after round ${r}: ${n} holds its round's value`);
        assert.equal(snap.doc.activityIds.length, names.length * (r + 1), `after round ${r}: one activity per write`);
        assert.equal(snap.version, base + names.length);
      }
      base += names.length;
    }
    const acts = (await getActivities(ctx.clientB, id, { limit: 500 })).json;
    assert.equal(acts.totalResults, names.length * ROUNDS);
  });

  it('cases created through both processes at once: ids and refIds unique, numbers without gaps', { timeout: 60_000 }, async () => {
    const before0 = (await ctx.client.post('getCases', { limit: 1 })).json.totalResults;
    const N = 160;
    const made = await pool(N, 32, async (i) => {
      const r = await (i % 2 ? ctx.clientB : ctx.client).createCase(caseBody(ctx.cfg, { name: `parallel ${i}` }));
      assertOk(r, `createCase ${i}`);
      return r.json;
    });
    assert.equal(new Set(made.map((d) => d._id)).size, N, 'every _id is distinct');
    assert.equal(new Set(made.map((d) => d.refId)).size, N, 'every refId is distinct');
    const total = (await ctx.clientB.post('getCases', { limit: 1 })).json.totalResults;
    assert.equal(total, before0 + N, 'the per-tenant count saw every create');
    // every case this test file created so far: CS1..CSn, none skipped, none twice
    const all = [];
    for (let skip = 0; skip < total; skip += 500) {
      const page = await ctx.client.post('getCases', { skip, limit: 500, sortBy: { refId: 'asc' }, selectedColumns: ['refId'] });
      assertOk(page, 'getCases');
      all.push(...page.json.results.map((d) => num(d.refId)));
    }
    assert.deepEqual(all.sort((a, b) => a - b), range(total), 'case numbers 1..n');
  });

  it('tasks created on one case through both processes at once: all in its taskIds, TS numbers unique', { timeout: 60_000 }, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const N = 60;
    const tasks = await pool(N, 30, async (i) => {
      const c = i % 2 ? ctx.clientB : ctx.client;
      const r = await c.createTask({ caseId: theCase._id, caseRefId: theCase.refId, taskTmp: ctx.cfg.taskTemplates[0]._id, userInfo: { _id: `u-${randomUUID()}`, name: 'Sam' }, source: 'rtm' });
      assertOk(r, `createTask ${i}`);
      return r.json;
    });
    assert.equal(new Set(tasks.map((d) => d.refId)).size, N, 'every task refId is distinct');
    const snap = await snapshot(ctx.clientB, CASE, theCase._id);
    assert.deepEqual([...snap.doc.taskIds].sort(), tasks.map((t) => t._id).sort(), 'the case lists every task exactly once');
  });

  it('an Idempotency-Key used through one process is honoured by the other', T, async () => {
    const key = `idem-${randomUUID()}`;
    const body = caseBody(ctx.cfg, { name: 'Once only' });
    const first = await ctx.client.createCase(body, { headers: { 'idempotency-key': key } });
    assertOk(first);
    const again = await ctx.clientB.createCase(body, { headers: { 'idempotency-key': key } });
    assertOk(again, 'replay through B');
    assert.deepEqual(again.json, first.json, 'B answers what A answered');
    assertError(await ctx.clientB.createCase(caseBody(ctx.cfg, { name: 'Other' }), { headers: { 'idempotency-key': key } }), 409, 'idempotency_conflict');
    const next = await ctx.clientB.newCase(ctx.cfg);
    assert.equal(num(next.refId), num(first.json.refId) + 1, 'the replay created nothing');
  });

  it('the same Idempotency-Key through both processes at the same moment creates one record', { timeout: 30_000 }, async () => {
    const before0 = (await ctx.client.post('getCases', { limit: 1 })).json.totalResults;
    const K = 20;
    for (let k = 0; k < K; k++) {
      const key = `idem-${randomUUID()}`;
      const body = caseBody(ctx.cfg, { name: `race ${k}` });
      const [x, y] = await Promise.all([ctx.client, ctx.clientB].map((c) => c.createCase(body, { headers: { 'idempotency-key': key } })));
      assertOk(x, 'through A');
      assertOk(y, 'through B');
      assert.equal(x.json._id, y.json._id, `key ${k}: both answers name the one record`);
    }
    const total = (await ctx.clientB.post('getCases', { limit: 1 })).json.totalResults;
    assert.equal(total, before0 + K, 'one record per key');
  });

  it('a jti used through one process is refused by the other', T, async () => {
    const tok = tokenFor(jtiApp, { jti: newJti() });
    assertOk(await ctx.a.client(jtiApp).createCase(caseBody(ctx.cfg), { token: tok }), 'first use through A');
    const e = assertError(await ctx.b.client(jtiApp).createCase(caseBody(ctx.cfg), { token: tok }), 401, 'unauthorized');
    assert.equal(e.msg, JTI_REPLAY_MSG);
    const e2 = assertError(await ctx.a.client(jtiApp).createCase(caseBody(ctx.cfg), { token: tok }), 401, 'unauthorized');
    assert.equal(e2.msg, JTI_REPLAY_MSG, 'and by the first process again');
  });

  it('serve says at start when PostgreSQL has fewer connections free than it may open', T, async () => {
    // each thread keeps the connection it opened: past max_connections the threads without one
    // answered 503 under load and after it, and nothing said why (the cluster allows 400)
    const big = await ctx.env.startServer(['--threads', '2', '--workers', '600']);
    try {
      assert.match(big.stderrText, /the server has \d+ connections free and this process may open 602 \(--workers \+ 2\)/);
      assert.equal((await big.client(ctx.app).post('getCases', {})).status, 200, 'it serves all the same');
    } finally {
      await big.stop();
    }
    assert.doesNotMatch(ctx.a.stderrText, /connections free/, 'no warning when they fit');
  });

  it('a process frozen inside a transaction holds its locks for seconds, not until TCP gives up', { timeout: 120_000 }, async () => {
    // A stopped process (SIGSTOP here; a paused VM or a partition alike) kept its session idle
    // in transaction with the case's row lock: every createTask of that case through the other
    // process waited lock_timeout (10 s) and answered 503, attempt after attempt, for hours.
    // Each of the stopped process's transactions queued on the lock takes it in turn and holds
    // it for the idle timeout (2 s): two workers keep that queue short enough to measure.
    const frozen = await ctx.env.startServer(['--threads', '2', '--workers', '2']);
    const fc = frozen.client(ctx.app);
    const theCase = await ctx.client.newCase(ctx.cfg);
    const taskBody = () => ({ caseId: theCase._id, caseRefId: theCase.refId, taskTmp: ctx.cfg.taskTemplates[0]._id, userInfo: { _id: `u-${randomUUID()}`, name: 'Sam' }, source: 'rtm' });
    const idleInTxn = async () => Number(await psql(ctx.env.db,
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()"));
    let stuck = false, loops = [];
    for (let attempt = 0; attempt < 40 && !stuck; attempt++) {
      let go = true;
      loops = Array.from({ length: 6 }, async () => { while (go) await fc.createTask(taskBody()).catch(() => {}); });
      await sleep(100 + attempt * 7);
      process.kill(frozen.proc.pid, 'SIGSTOP');
      go = false;
      stuck = (await idleInTxn()) > 0;
      if (!stuck) {
        process.kill(frozen.proc.pid, 'SIGCONT');
        await Promise.all(loops);
      }
    }
    assert.ok(stuck, 'the frozen process was caught inside a transaction');
    try {
      const t0 = Date.now();
      const r = await ctx.clientB.createTask(taskBody());
      const ms = Date.now() - t0;
      assertOk(r, `createTask through the other process after ${ms} ms`);
      assert.ok(ms < 9000, `answered in ${ms} ms, under lock_timeout`);
      // Each of its two workers' transactions takes the lock in turn and is ended after its 2 s
      // (IDLE_TXN_TIMEOUT_MS): the second may still be inside them when this create gets through.
      let idle = await idleInTxn();
      for (const end = Date.now() + 2 * 2000 + 1000; idle > 0 && Date.now() < end; idle = await idleInTxn())
        await sleep(100);
      assert.equal(idle, 0, `the frozen sessions were ended within ${Date.now() - t0} ms`);
    } finally {
      process.kill(frozen.proc.pid, 'SIGCONT');
    }
    await Promise.all(loops);
    assertOk(await fc.createTask(taskBody()), 'the frozen process serves again once resumed');
    await frozen.stop();
  });

  it('one jti sent to both processes at the same moment is accepted exactly once', { timeout: 30_000 }, async () => {
    for (let k = 0; k < 20; k++) {
      const tok = tokenFor(jtiApp, { jti: newJti() });
      const res = await Promise.all([ctx.a, ctx.b].map((s) => s.client(jtiApp).createCase(caseBody(ctx.cfg), { token: tok })));
      const ok = res.filter((r) => r.status === 200);
      const refused = res.filter((r) => r.status === 401);
      assert.equal(ok.length, 1, `round ${k}: exactly one use: ${res.map((r) => r.status).join(',')}`);
      assert.equal(refused.length, 1);
      assert.equal(refused[0].json?.errors?.[0]?.msg, JTI_REPLAY_MSG);
    }
  });
});
