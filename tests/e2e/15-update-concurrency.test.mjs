// updateTask (API.md §7): the read-modify-write is one transaction. 12 keep-alive
// connections each update a different member of one task at the same moment, round after
// round: no update is lost, every write gets its own version and activity. Plus: the same
// If-Match from 12 connections lets exactly one through; 12 writers of one member leave the
// value of the highest version.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, ids } from './lib/env.mjs';
import { RawConn, buildRequest, apiBase } from './lib/client.mjs';
import { TASK, newPair, snapshot, getActivities, okDoc } from './lib/update.mjs';

const ROUNDS = 40;
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

/** 12 (or n) raw keep-alive connections with a request builder for one task. */
async function openConns(ctx, n) {
  const conns = [];
  for (let i = 0; i < n; i++) conns.push(await RawConn.open(ctx.server.port));
  return conns;
}

function requestBytes(ctx, taskId, token, body, extra = []) {
  return buildRequest({
    path: `${apiBase(ctx.app.streams[0])}updateTask/${taskId}`,
    headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', token], ['accountId', ctx.app.account], ...extra],
    body: JSON.stringify(body),
  });
}

/** Writes every request at once (one tight loop), then reads one response per connection. */
async function fire(conns, bytes) {
  conns.forEach((c, i) => c.sock.write(bytes[i]));
  return Promise.all(conns.map((c) => c.readResponse(10_000)));
}

const version = (res) => Number(/^"(\d+)"$/.exec(res.headers.etag ?? '')?.[1]);

describe('15 concurrent updates of one task', () => {
  const ctx = useServer({ app: { org: ids.org() }, serverArgs: ['--threads', '6'] });

  it(`12 connections × ${ROUNDS} rounds, each connection its own member: no lost update`, { timeout: 45_000 }, async () => {
    const { task } = await newPair(ctx);
    const id = task.doc._id;
    const names = Object.keys(MEMBERS);
    const conns = await openConns(ctx, names.length);
    const token = ctx.client.token();
    try {
      let base = task.version;
      const answers = [];
      for (let r = 0; r < ROUNDS; r++) {
        const bytes = names.map((n) => requestBytes(ctx, id, token, { [n]: MEMBERS[n](r) }));
        const res = await fire(conns, bytes);
        answers.push(...res);
        res.forEach((x, i) => {
          assert.equal(x.status, 200, `round ${r} ${names[i]}: HTTP ${x.status} ${x.text.slice(0, 300)}`);
          assert.deepEqual(x.json[names[i]], MEMBERS[names[i]](r), `round ${r}: the response of ${names[i]} carries its value`);
          assert.ok(!x.headers.connection || !/close/i.test(x.headers.connection), 'keep-alive');
        });
        const versions = res.map(version).sort((a, b) => a - b);
        assert.deepEqual(versions, Array.from({ length: names.length }, (_, i) => base + 1 + i), `round ${r}: each write its own version`);
        const snap = await snapshot(ctx.client, TASK, id);
        for (const n of names) assert.deepEqual(snap.doc[n], MEMBERS[n](r), `after round ${r}: ${n} holds its round's value`);
        assert.equal(snap.doc.activityIds.length, names.length * (r + 1), `after round ${r}: activityIds grew by exactly ${names.length}`);
        assert.equal(new Set(snap.doc.activityIds).size, snap.doc.activityIds.length, 'activity ids are distinct');
        assert.equal(snap.version, base + names.length);
        base = snap.version;
      }
      // time goes forward with the versions: each write's time was the request's arrival, so a
      // write that arrived first and committed second carried an earlier updatedAt
      answers.sort((a, b) => version(a) - version(b));
      for (let i = 1; i < answers.length; i++) {
        const [a, b] = [answers[i - 1].json, answers[i].json];
        assert.ok(b.timestampValue >= a.timestampValue, `version ${version(answers[i])}: timestampValue ${b.timestampValue} before version ${version(answers[i - 1])}'s ${a.timestampValue}`);
        assert.ok(b.updatedAt >= a.updatedAt, `version ${version(answers[i])}: updatedAt ${b.updatedAt} < ${a.updatedAt}`);
      }
      const acts = (await getActivities(ctx.client, id, { limit: 500 })).json;
      assert.equal(acts.totalResults, names.length * ROUNDS);
      for (let i = 1; i < acts.results.length; i++) {
        assert.ok(acts.results[i].timestampValue <= acts.results[i - 1].timestampValue, `activity ${i} (newest first) is later than the one listed before it`);
      }
      const perMember = {};
      for (const a of acts.results) {
        // desc moves the Description field with it: that change is recorded too
        const own = a.changes.filter((c) => c.field !== 'fields');
        assert.equal(own.length, 1, `each activity has one change: ${JSON.stringify(a.changes).slice(0, 200)}`);
        assert.ok(a.changes.length === 1 || own[0].field === 'desc', 'only desc has a mirrored field');
        perMember[own[0].field] = (perMember[own[0].field] ?? 0) + 1;
      }
      for (const n of names) assert.equal(perMember[n], ROUNDS, `${n}: one activity per round`);
    } finally {
      for (const c of conns) c.destroy();
    }
  });

  // PostgreSQL: a task update locked its case (FOR SHARE) and then the task when it committed
  // what it had prepared, but the task and then the case when it ran wholly in the writer
  // after a conflict; with a case update queued on the case in between the two waited on each
  // other, and PostgreSQL broke the deadlock after a second with a 503 (2-18 in 10 s)
  it('6 loops updating a task and 2 its case for 8 s: every update 200, none waits on a deadlock', { timeout: 45_000 }, async () => {
    const { theCase, task } = await newPair(ctx);
    const until = Date.now() + 8_000;
    const bad = [];
    let slow = 0;
    let taskWrites = 0;
    const loop = async (path, n) => {
      for (let i = 0; Date.now() < until && bad.length < 5; i++) {
        const t0 = Date.now();
        const res = await ctx.client.post(path, { desc: `loop ${n} write ${i}` });
        if (Date.now() - t0 > 900) slow++;
        if (res.status !== 200) bad.push(`${path}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
        else if (path.startsWith('updateTask')) taskWrites++;
      }
    };
    await Promise.all([
      ...Array.from({ length: 6 }, (_, n) => loop(`updateTask/${task.doc._id}`, n)),
      ...Array.from({ length: 2 }, (_, n) => loop(`updateCase/${theCase.doc._id}`, n)),
    ]);
    assert.deepEqual(bad, [], 'no update failed');
    const snap = await snapshot(ctx.client, TASK, task.doc._id);
    assert.equal(snap.version, task.version + taskWrites, 'every task update has its version');
    assert.ok(slow < 5, `${slow} updates took more than 0.9 s (a deadlock is broken after 1 s)`);
  });

  it('12 connections with the same If-Match at once: exactly one 200, eleven 412, 10 rounds', { timeout: 20_000 }, async () => {
    const { task } = await newPair(ctx);
    const id = task.doc._id;
    const conns = await openConns(ctx, 12);
    const token = ctx.client.token();
    try {
      let v = task.version;
      for (let r = 0; r < 10; r++) {
        const bytes = conns.map((_, i) => requestBytes(ctx, id, token, { desc: `r${r} c${i}` }, [['If-Match', `"${v}"`]]));
        const res = await fire(conns, bytes);
        const ok = res.filter((x) => x.status === 200);
        const pre = res.filter((x) => x.status === 412);
        assert.equal(ok.length, 1, `round ${r}: exactly one write wins: ${res.map((x) => x.status).join(',')}`);
        assert.equal(pre.length, 11, `round ${r}: the others 412`);
        for (const x of pre) assert.equal(x.json?.errors?.[0]?.reason, 'precondition_failed');
        const snap = await snapshot(ctx.client, TASK, id);
        assert.equal(snap.version, v + 1);
        assert.equal(snap.doc.desc, ok[0].json.desc, 'the stored value is the winner\'s');
        assert.equal(snap.doc.activityIds.length, r + 1);
        v = snap.version;
      }
    } finally {
      for (const c of conns) c.destroy();
    }
  });

  it('12 connections writing the same member: all applied in some order, the highest version\'s value stays', { timeout: 20_000 }, async () => {
    const { task } = await newPair(ctx);
    const id = task.doc._id;
    const conns = await openConns(ctx, 12);
    const token = ctx.client.token();
    try {
      let base = task.version;
      for (let r = 0; r < 10; r++) {
        const bytes = conns.map((_, i) => requestBytes(ctx, id, token, { desc: `r${r} c${i}`, tags: [`c${i}`] }));
        const res = await fire(conns, bytes);
        for (const x of res) assert.equal(x.status, 200, `HTTP ${x.status} ${x.text.slice(0, 200)}`);
        const last = res.reduce((a, b) => (version(a) > version(b) ? a : b));
        assert.deepEqual(res.map(version).sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => base + 1 + i));
        const snap = okDoc(await ctx.client.post(`updateTask/${id}`, {}));
        assert.equal(snap.doc.desc, last.json.desc, 'the last committed write is what is stored');
        assert.deepEqual(snap.doc.tags, last.json.tags, 'desc and tags of one request stay together');
        assert.equal(snap.doc.tags[0], `c${/c(\d+)$/.exec(snap.doc.desc)[1]}`);
        base = snap.version;
      }
    } finally {
      for (const c of conns) c.destroy();
    }
  });
});
