// Concurrent creates (API.md §3, §6): distinct ids, per-stream refIds,
// no lost task references.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, ids, T, ID_RE, pool } from './lib/env.mjs';
import { caseBody, taskBody, assertOk } from './lib/client.mjs';

const seq = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(6, '0')}`);

describe('07 concurrency: 200 createCase, 20 in flight', () => {
  const ctx = useServer();

  it('200 distinct _ids and refIds CS000001..CS000200', { timeout: 90_000 }, async () => {
    const rs = await pool(200, 20, (i) => ctx.client.createCase(caseBody(ctx.cfg, { name: `Load ${i}` })));
    const failed = rs.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, `failed: ${failed.slice(0, 3).map((r) => `${r.status} ${r.text.slice(0, 200)}`).join(' | ')}`);
    const docs = rs.map((r) => r.json);
    for (const d of docs) assert.match(d._id, ID_RE.case);
    assert.equal(new Set(docs.map((d) => d._id)).size, 200, 'duplicate _id');
    assert.deepEqual(docs.map((d) => d.refId).sort(), seq('CS', 200));
    docs.forEach((d, i) => assert.equal(d.name, `Load ${i}`, 'response belongs to another request'));
  });
});

describe('07 concurrency: 100 createTask on one case', () => {
  const ctx = useServer();

  it('100 distinct task ids and refIds TS000001..TS000100, all on the case', { timeout: 90_000 }, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const rs = await pool(100, 20, (i) => ctx.client.createTask(taskBody(ctx.cfg, theCase, { name: `Step ${i}` })));
    const failed = rs.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, `failed: ${failed.slice(0, 3).map((r) => `${r.status} ${r.text.slice(0, 200)}`).join(' | ')}`);
    const docs = rs.map((r) => r.json);
    for (const d of docs) {
      assert.match(d._id, ID_RE.task);
      assert.equal(d.caseId, theCase._id);
      assert.equal(d.caseRefId, theCase.refId);
    }
    assert.equal(new Set(docs.map((d) => d._id)).size, 100, 'duplicate task _id');
    assert.deepEqual(docs.map((d) => d.refId).sort(), seq('TS', 100));
    const later = await ctx.client.newTask(ctx.cfg, theCase);
    assert.equal(later.refId, 'TS000101');
    assert.equal(later.caseRefId, theCase.refId);
  });
});

describe('07 concurrency: two streams and two apps at once', () => {
  const sA = ids.stream();
  const sB = ids.stream();
  const ctx = useServer({ app: { streams: [sA, sB] } });

  it('each stream keeps its own gap-free sequence', { timeout: 90_000 }, async () => {
    const other = await ctx.env.createApp({ streams: [sA] });
    const cfgB = await ctx.env.streamConfig(sB);
    const clients = [
      [ctx.server.client(ctx.app, sA), ctx.cfg, 'A'],
      [ctx.server.client(ctx.app, sB), cfgB, 'B'],
      [ctx.server.client(other, sA), ctx.cfg, 'A'],
    ];
    const rs = await pool(90, 18, (i) => {
      const [c, cfg, tag] = clients[i % 3];
      return c.createCase(caseBody(cfg, { name: tag })).then((r) => ({ r, tag }));
    });
    for (const { r } of rs) assertOk(r);
    const refs = (tag) => rs.filter((x) => x.tag === tag).map((x) => x.r.json.refId).sort();
    assert.deepEqual(refs('A'), seq('CS', 60));
    assert.deepEqual(refs('B'), seq('CS', 30));
  });
});
