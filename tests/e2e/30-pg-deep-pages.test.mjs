// PostgreSQL only: deep pages in creation order start at the bucket of record_created_buckets
// their skip falls in (migration 3 of the PostgreSQL schema; created_start in store_pg.c). The
// server stamps createdAt, so tasks made through the API share a bucket or two; here their
// created_at columns are spread over 200 buckets of 2^24 ms afterwards (at the edges of their
// buckets, some equal so that the _id tie-break counts, some before 1970) and the counts rebuilt from them, and every
// page at skips from 1,000 to the end, both ways, must be the one the table's own ORDER BY gives.
// Then the trigger: more tasks created count in the buckets. Runs in the PostgreSQL leg of
// `make test` (scripts/pg-test-cluster sets CASEMGR_E2E_PG); without it the file fails.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, pool, PG_URL, T, psql } from './lib/env.mjs';
import { assertOk, caseBody, taskBody } from './lib/client.mjs';

const TASKS = 1300;

describe('30 PostgreSQL deep pages from the counts by creation time', () => {
  if (!PG_URL) {
    it('needs PostgreSQL: run through `make test` or scripts/pg-test-cluster run -- ... with CASEMGR_E2E_PG', () => {
      assert.fail('CASEMGR_E2E_PG is not set: this file runs only in the PostgreSQL leg');
    });
    return;
  }

  const ctx = useServer();
  const tenant = () => `stream_id = '${ctx.app.streams[0]}' AND account_id = '${ctx.app.account}' AND kind = 1`;
  const ordered = async (dir) => (await psql(ctx.env.db,
    `SELECT id FROM records WHERE ${tenant()} ORDER BY created_at ${dir}, id ${dir}`)).split('\n');
  const page = async (body) => {
    const r = await ctx.client.post('getTasks', body);
    assertOk(r, `getTasks ${JSON.stringify(body)}`);
    return r.json;
  };
  const create = async (n) => {
    const cases = await pool(10, 5, async () => {
      const r = await ctx.client.post('createCase', caseBody(ctx.cfg));
      assertOk(r, 'createCase');
      return r.json;
    });
    await pool(n, 8, async (i) => assertOk(await ctx.client.post('createTask', taskBody(ctx.cfg, cases[i % 10])), 'createTask'));
  };

  before(async () => {
    await create(TASKS);
    // 6.5 tasks a bucket over 200 buckets, at their first and last millisecond and between,
    // runs of equal times, some before 1970 (negative buckets)
    await psql(ctx.env.db, `UPDATE records SET created_at = ((ref_seq * 7919) % 200 - 20) * 16777216
      + CASE ref_seq % 4 WHEN 0 THEN 0 WHEN 1 THEN 1000 WHEN 2 THEN 16777215 ELSE 8388608 END
      WHERE ${tenant()}`);
    await psql(ctx.env.db, `DELETE FROM record_created_buckets WHERE ${tenant()};
      INSERT INTO record_created_buckets SELECT stream_id, account_id, kind, created_at >> 24, count(*)
      FROM records WHERE ${tenant()} GROUP BY stream_id, account_id, kind, created_at >> 24`);
    const buckets = Number(await psql(ctx.env.db, `SELECT count(*) FROM record_created_buckets WHERE ${tenant()}`));
    assert.ok(buckets >= 150, `only ${buckets} buckets`);
  }, { timeout: 180_000 });

  for (const dir of ['desc', 'asc']) {
    it(`sortBy createdAt ${dir}: each page from skip 1,000 on is the table's own order`, T, async () => {
      const want = await ordered(dir.toUpperCase());
      assert.equal(want.length, TASKS);
      for (const skip of [1000, 1001, 1007, 1050, 1099, 1111, 1163, 1200, 1249, TASKS - 50, TASKS - 1]) {
        for (const limit of [1, 50]) {
          const got = await page({ sortBy: { createdAt: dir }, skip, limit });
          assert.equal(got.totalResults, TASKS);
          assert.deepEqual(got.results.map((d) => d._id), want.slice(skip, skip + limit), `skip ${skip} limit ${limit}`);
        }
      }
      const past = await page({ sortBy: { createdAt: dir }, skip: TASKS + 3, limit: 50 });
      assert.deepEqual(past.results, []);
    });
  }

  it('tasks created later are counted by the trigger', T, async () => {
    await create(25);
    const [counted, rows] = (await psql(ctx.env.db, `SELECT (SELECT sum(n) FROM record_created_buckets WHERE ${tenant()}),
      (SELECT count(*) FROM records WHERE ${tenant()})`)).split('|').map(Number);
    assert.equal(counted, TASKS + 25);
    assert.equal(rows, TASKS + 25);
    const want = await ordered('DESC');
    const got = await page({ skip: 1100, limit: 50 });
    assert.deepEqual(got.results.map((d) => d._id), want.slice(1100, 1150));
  });
});
