// getTasks (API.md §8): deep pages in creation order. Past a skip of 1,000, a list sorted by
// createdAt and filtered on nothing but its tenant is placed (on SQLite) from counts of the
// tenant's records per span of creation time rather than by stepping through every row before
// it. The pages must still be the model's: walking every page (in steps whose skips pass 1,000
// at once and one by one) returns every task exactly once, in order, either way; the page
// at each skip around 1,000 and at the end is the model's page. Another tenant's tasks, created
// in the same moments, stay out of the counts.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, ids, pool, T } from './lib/env.mjs';
import { assertOk, caseBody, taskBody } from './lib/client.mjs';
import { TASK, listOk, assertIds, expectAll, check } from './lib/query.mjs';

const TASKS = 1230;
const CASES = 30;

async function create(client, path, body) {
  const r = await client.post(path, body);
  assertOk(r, path);
  return r.json;
}

/** Creates n tasks spread over cases; returns their documents as created. */
async function createTasks(ctx, n) {
  const cases = await pool(CASES, 8, () => create(ctx.client, 'createCase', caseBody(ctx.cfg)));
  return pool(n, 8, (i) => create(ctx.client, 'createTask',
    taskBody(ctx.cfg, cases[i % CASES], { name: `Deep task ${i}` })));
}

describe('getTasks deep pages in creation order (API.md §8)', () => {
  const ctx = useServer();
  const data = { docs: () => data.tasks };
  before(async () => {
    data.client = ctx.client;
    data.cfg = ctx.cfg;
    data.tasks = await createTasks(ctx, TASKS);
    // another tenant (account) on the same stream, created meanwhile
    const other = await ctx.env.createApp({ org: ids.org(), streams: ctx.app.streams });
    const otherClient = ctx.server.client(other);
    const someCase = await create(otherClient, 'createCase', caseBody(ctx.cfg));
    await pool(40, 8, () => create(otherClient, 'createTask', taskBody(ctx.cfg, someCase)));
  }, { timeout: 180_000 });

  for (const sortBy of [undefined, { createdAt: 'desc' }, { createdAt: 'asc' }, 'createdDate']) {
    const body = sortBy === undefined ? {} : { sortBy };
    const what = `getTasks ${JSON.stringify(body)}`;

    it(`${what}: walking every page returns every task once, in order`, T, async () => {
      const exp = expectAll(data.tasks, body, { cfg: data.cfg, now: Date.now() });
      assert.equal(exp.length, TASKS);
      for (const limit of [50, 97]) {
        const got = [];
        for (let skip = 0; skip < TASKS; skip += limit) {
          const page = await listOk(data.client, TASK, { ...body, skip, limit }, undefined, `${what} skip ${skip} limit ${limit}`);
          assert.equal(page.totalResults, TASKS, `${what} skip ${skip}: totalResults`);
          got.push(...page.results);
        }
        assert.equal(new Set(got.map((d) => d._id)).size, got.length, `${what} limit ${limit}: a task on two pages`);
        assertIds(got, exp, `${what} limit ${limit}`);
      }
    });

    it(`${what}: the pages at skips around 1,000 and at the end are the model's`, T, async () => {
      for (const skip of [999, 1000, 1001, 1049, 1050, 1111, TASKS - 50, TASKS - 1, TASKS, TASKS + 5]) {
        await check(data, TASK, { ...body, skip, limit: 50 }, { idsOnly: true });
      }
      await check(data, TASK, { ...body, skip: 1000, limit: 1 }, { idsOnly: true });
      await check(data, TASK, { ...body, skip: 1000, limit: 500 }, { idsOnly: true });
    });
  }
});
