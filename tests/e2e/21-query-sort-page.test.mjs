// getCases/getTasks (API.md §8): sorting, paging and projection. Walking every page with each
// sort member and direction (object form, 1/-1, and the string forms) must return every record
// exactly once, in the model's order (ties by refId for dueDate, priority and name, then by _id,
// in the same direction; records without the sort member last); the page numbers, hasMore and
// totals must hold on every page; and selectedColumns must answer _id plus exactly the members
// asked for.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, H, T } from './lib/env.mjs';
import {
  CASE, TASK, KINDS, ENDPOINT, SORT_MEMBERS, seed, addSeedConfig, check, listOk, list, assertIds,
  expectAll, withBreach, lowerAscii, rng,
} from './lib/query.mjs';

/** Walks every page of a query; asserts the page invariants; returns the concatenated results. */
async function walk(data, kind, body, limit, what) {
  const out = [];
  let total;
  for (let skip = 0, n = 0; ; skip += limit, n++) {
    assert.ok(n < 1000, `${what}: too many pages`);
    const page = await listOk(data.client, kind, { ...body, skip, limit }, undefined, `${what} skip ${skip}`);
    if (total === undefined) total = page.totalResults;
    assert.equal(page.totalResults, total, `${what}: totalResults is the same on every page`);
    assert.equal(page.page, n + 1, `${what}: page number`);
    out.push(...page.results);
    if (!page.hasMore) {
      assert.equal(out.length, total, `${what}: the last page (hasMore false) ends at totalResults`);
      assert.equal(page.totalPages, Math.max(n + 1, 0) - (total === 0 ? 1 : 0), `${what}: totalPages = pages walked`);
      break;
    }
    assert.equal(page.results.length, limit, `${what}: a page with hasMore is full`);
  }
  const seen = new Set();
  for (const d of out) {
    assert.ok(!seen.has(d._id), `${what}: ${d._id} (${d.refId}) appears on two pages`);
    seen.add(d._id);
  }
  return out;
}

/** Every sortBy form the server takes. */
function sortForms() {
  const forms = [undefined, 'createdDate'];
  for (const m of SORT_MEMBERS) forms.push({ [m]: 'asc' }, { [m]: 'desc' }, { [m]: 1 }, { [m]: -1 }, m);
  return forms;
}

describe('getCases/getTasks sorting, paging and projection (API.md §8)', () => {
  const ctx = useServer({ beforeStart: (c) => addSeedConfig(c.env, c.app.streams[0]) });
  let data;
  before(async () => { data = await seed(ctx, { cases: 45, tasksPerCase: 8, seed: 21 }); }, H);

  for (const kind of KINDS) {
    describe(ENDPOINT[kind], () => {
      it('walking all pages with each sort member and direction returns every record once, in order', T, async () => {
        for (const sortBy of sortForms()) {
          const body = sortBy === undefined ? {} : { sortBy };
          const what = `${ENDPOINT[kind]} sortBy ${JSON.stringify(sortBy)}`;
          const got = await walk(data, kind, body, 23, what);
          const exp = expectAll(data.docs(kind), body, { cfg: data.cfg, now: Date.now() });
          assert.equal(exp.length, data.docs(kind).length);
          assertIds(got, exp, what);
        }
      });

      it('walking a filtered set with small pages (limit 1, 2, 7)', T, async () => {
        for (const [body, limit] of [
          [{ unresolved: true, sortBy: { dueDate: 'asc' } }, 7],
          [{ priority: ['High'], sortBy: { name: 'desc' } }, 2],
          [{ ETAlist: ['none', 'later'], sortBy: { dueDate: 'desc' } }, 7],
          [{ searchText: 'ISSUE', sortBy: { priority: 'asc' } }, 1],
        ]) {
          const what = `${ENDPOINT[kind]} ${JSON.stringify(body)} limit ${limit}`;
          const got = await walk(data, kind, body, limit, what);
          assertIds(got, expectAll(data.docs(kind), body, { cfg: data.cfg, now: Date.now() }), what);
        }
      });

      it('records without a dueDate sort last in both directions', T, async () => {
        for (const dir of ['asc', 'desc']) {
          const page = await listOk(data.client, kind, { sortBy: { dueDate: dir }, limit: 500 });
          const firstNone = page.results.findIndex((d) => typeof d.dueDate !== 'number');
          assert.ok(firstNone > 0, `${dir}: the seed has records with and without dueDate`);
          assert.ok(page.results.slice(firstNone).every((d) => typeof d.dueDate !== 'number'), `${dir}: after the first record without dueDate, only such records`);
          const dues = page.results.slice(0, firstNone).map((d) => d.dueDate);
          const sorted = [...dues].sort((a, b) => (dir === 'asc' ? a - b : b - a));
          assert.deepEqual(dues, sorted, `${dir}: dueDates in order`);
        }
      });

      it('priority sorts by score, name case-insensitively, refId numerically', T, async () => {
        const p = await listOk(data.client, kind, { sortBy: { priority: 'desc' }, limit: 500 });
        const scores = p.results.map((d) => d.priority.score);
        assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
        const n = await listOk(data.client, kind, { sortBy: { name: 'asc' }, limit: 500 });
        const names = n.results.map((d) => lowerAscii(d.name));
        assert.deepEqual(names, [...names].sort());
        assert.ok(n.results.some((d) => d.name !== d.name.toLowerCase()) && n.results.some((d) => /^[a-z]/.test(d.name)), 'mixed case names');
        const r = await listOk(data.client, kind, { sortBy: { refId: 'asc' }, limit: 500 });
        const nums = r.results.map((d) => Number(d.refId.slice(2)));
        assert.deepEqual(nums, [...nums].sort((a, b) => a - b));
      });

      it('skip and limit: defaults, any skip, past the end, limit 500', T, async () => {
        const total = data.docs(kind).length;
        await check(data, kind, {});
        await check(data, kind, { limit: 1 });
        await check(data, kind, { skip: 5, limit: 10 }); // page 1: skip/limit + 1 rounds down
        await check(data, kind, { skip: 13, limit: 4 });
        await check(data, kind, { skip: total - 1, limit: 50 });
        const end = await check(data, kind, { skip: total, limit: 10 });
        assert.equal(end.page.results.length, 0);
        assert.equal(end.page.hasMore, false);
        const far = await check(data, kind, { skip: total + 1000, limit: 7 });
        assert.equal(far.page.totalResults, total);
        const all = await check(data, kind, { limit: 500 });
        assert.equal(all.page.results.length, total);
        assert.equal(all.page.totalPages, 1);
        assert.equal(all.page.hasMore, false);
        const none = await check(data, kind, { searchText: 'no record has this name', limit: 10 });
        assert.equal(none.page.totalPages, 0, 'no results: totalPages 0');
        assert.equal(none.page.page, 1);
        await check(data, kind, { skip: 0, limit: 50, sortBy: { createdAt: 'desc' } });
      });

      it('skip, limit and a sort direction written as floats (10.0, as Python sends them) are whole numbers; 10.5 is 400', T, async () => {
        const raw = (text) => data.client.post(ENDPOINT[kind], undefined, { body: text });
        const ints = await raw('{"skip": 3, "limit": 10, "sortBy": {"createdAt": -1}}');
        const floats = await raw('{"skip": 3.0, "limit": 1e1, "sortBy": {"createdAt": -1.0}}');
        assert.equal(floats.status, 200, floats.text);
        assert.deepEqual(floats.json.results.map((d) => d._id), ints.json.results.map((d) => d._id));
        assert.equal(floats.json.limit, 10);
        assert.equal(floats.json.page, 1);
        for (const [text, field] of [['{"limit": 10.5}', 'limit'], ['{"skip": 0.5}', 'skip'], ['{"limit": "10"}', 'limit']]) {
          const r = await raw(text);
          assert.equal(r.status, 400, text);
          assert.equal(r.json.errors[0].field, field, text);
        }
      });

      it('selectedColumns: _id plus exactly the members asked for', T, async () => {
        const now = Date.now();
        const body = { selectedColumns: ['name', 'status', 'dueDate'], sortBy: { name: 'asc' }, skip: 3, limit: 40, unresolved: true };
        const whole = await check(data, kind, { ...body, selectedColumns: [] });
        const r = await listOk(data.client, kind, body);
        assertIds(r.results, whole.expected.page, 'projection keeps the records and their order');
        for (const d of r.results) {
          const doc = data.byId.get(d._id);
          const exp = { _id: doc._id, name: doc.name, status: doc.status };
          if ('dueDate' in doc) exp.dueDate = doc.dueDate;
          assert.deepEqual(d, exp, `projected ${doc.refId}`);
        }
        const id = await listOk(data.client, kind, { selectedColumns: ['_id'], limit: 5 });
        for (const d of id.results) assert.deepEqual(Object.keys(d), ['_id']);
        const nul = await check(data, kind, { selectedColumns: null, limit: 5 });
        assert.ok(Object.keys(nul.page.results[0]).length > 20, 'null: whole documents');
        const breach = await listOk(data.client, kind, { selectedColumns: ['isBreached'], limit: 500 });
        for (const d of breach.results) assert.equal(d.isBreached, withBreach(data.byId.get(d._id), now).isBreached, `isBreached of ${d._id} as of now`);
      });

      it('selectedColumns: every member of the document can be selected, alone and all together', T, async () => {
        const sample = data.docs(kind)[0];
        const members = Object.keys(sample).filter((k) => k !== '_id');
        const failures = [];
        for (const m of members) {
          const r = await list(data.client, kind, { selectedColumns: [m], searchText: sample.refId });
          if (r.status !== 200) { failures.push(`${m}: HTTP ${r.status} ${r.text.slice(0, 200)}`); continue; }
          const d = r.json.results.find((x) => x._id === sample._id);
          if (!d) { failures.push(`${m}: record missing`); continue; }
          const exp = { _id: sample._id, [m]: m === 'isBreached' ? withBreach(sample, Date.now()).isBreached : sample[m] };
          try { assert.deepEqual(d, exp); } catch { failures.push(`${m}: got ${JSON.stringify(d).slice(0, 200)}`); }
        }
        assert.deepEqual(failures, [], `${ENDPOINT[kind]} selectedColumns [member] for each member of the ${kind} document`);
        const all = await listOk(data.client, kind, { selectedColumns: members, searchText: sample.refId });
        const d = all.results.find((x) => x._id === sample._id);
        assert.deepEqual(d, withBreach(sample, Date.now()), 'every member selected = the whole document');
      });
    });
  }

  it('a case sorted by updatedAt moves when it is updated', T, async () => {
    const target = data.cases[data.cases.length - 1];
    const r = await data.client.post(`updateCase/${target._id}`, { desc: 'touched by the sort test' });
    assert.equal(r.status, 200);
    data.cases[data.cases.length - 1] = r.json;
    data.byId.set(r.json._id, r.json);
    const first = await check(data, CASE, { sortBy: { updatedAt: 'desc' }, limit: 3 });
    assert.equal(first.page.results[0]._id, target._id, 'the updated case comes first');
    const got = await walk(data, CASE, { sortBy: { updatedAt: 'asc' } }, 17, 'getCases updatedAt asc after an update');
    assertIds(got, expectAll(data.cases, { sortBy: { updatedAt: 'asc' } }, { cfg: data.cfg, now: Date.now() }), 'updatedAt asc');
  });

  it('pages by updatedAt hold each task once and in order while tasks are updated, and every task after', T, async () => {
    // enough updates for the store to clean up the places they leave behind (SQLite sweeps its
    // updatedAt order every 256 writes), from 8 connections, each updating its own tasks
    const UPDATES = 640, WIDTH = 8;
    const total = data.tasks.length;
    let stop = false;
    let pages = 0;
    const reader = (async () => {
      while (!stop) {
        for (const dir of ['desc', 'asc']) {
          for (const skip of [0, 40, total - 30]) {
            const what = `getTasks by updatedAt ${dir} skip ${skip} during updates`;
            const page = await listOk(data.client, TASK, { sortBy: { updatedAt: dir }, skip, limit: 40 }, undefined, what);
            assert.equal(page.totalResults, total, what);
            const seen = new Set();
            page.results.forEach((d, i) => {
              assert.ok(!seen.has(d._id), `${what}: ${d._id} twice on one page`);
              seen.add(d._id);
              if (i === 0) return;
              const a = page.results[i - 1];
              const c = a.updatedAt < d.updatedAt ? -1 : a.updatedAt > d.updatedAt ? 1 : a._id < d._id ? -1 : 1;
              assert.ok(dir === 'asc' ? c < 0 : c > 0, `${what}: ${a._id} (${a.updatedAt}) before ${d._id} (${d.updatedAt})`);
            });
            pages++;
          }
        }
      }
    })();
    let done = 0, updated = 0;
    const writers = Array.from({ length: WIDTH }, async (_, w) => {
      const r = rng(2100 + w);
      const mine = data.tasks.map((t, j) => j).filter((j) => j % WIDTH === w);
      while (done < UPDATES) {
        done++;
        const j = r.pick(mine);
        const res = await data.client.post(`updateTask/${data.tasks[j]._id}`, { desc: `moved ${done}` });
        if (res.status === 409) continue; // its case is closed
        assert.equal(res.status, 200, res.text);
        data.tasks[j] = res.json;
        data.byId.set(res.json._id, res.json);
        updated++;
      }
    });
    try {
      await Promise.all(writers);
    } finally {
      stop = true;
      await reader;
    }
    assert.ok(updated > UPDATES / 2, `${updated} tasks updated`);
    assert.ok(pages > 0);
    for (const dir of ['asc', 'desc']) {
      const body = { sortBy: { updatedAt: dir } };
      const got = await walk(data, TASK, body, 37, `getTasks updatedAt ${dir} after the updates`);
      assertIds(got, expectAll(data.tasks, body, { cfg: data.cfg, now: Date.now() }), `updatedAt ${dir}`);
    }
  });

  it('tasks of one case, sorted and paged', T, async () => {
    const cs = data.cases[0];
    for (const sortBy of [{ refId: 'desc' }, { dueDate: 'asc' }, 'createdDate']) {
      const body = { caseId: cs._id, sortBy };
      const got = await walk(data, TASK, body, 2, `getTasks ${JSON.stringify(body)}`);
      assertIds(got, expectAll(data.tasks, body, { cfg: data.cfg, now: Date.now() }), JSON.stringify(body));
    }
  });
});
