// getCases/getTasks tenancy (API.md §2, §8): a list holds only the records of the path's stream
// and the token's account. Three tenants hold look-alike data (the same seed: the same names,
// agents, queues, channels): account A on stream S1 and on stream S2, account B on S1. Every
// query, from each tenant, must answer exactly what the model computes over its own records.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, ids, H, T } from './lib/env.mjs';
import { assertError } from './lib/client.mjs';
import { CASE, TASK, KINDS, ENDPOINT, seed, addSeedConfig, check, list, listOk, makeAgents, QUEUE_VALUES } from './lib/query.mjs';

describe('getCases/getTasks tenancy (API.md §2, §8)', () => {
  const t = {};
  let env;
  let server;
  before(async () => {
    env = await Env.create();
    const S1 = ids.stream();
    const S2 = ids.stream();
    const accountA = ids.account();
    const appA = await env.createApp({ account: accountA, streams: [S1, S2], org: ids.org() });
    const appA2 = await env.createApp({ account: accountA, streams: [S1], org: ids.org() });
    const appB = await env.createApp({ streams: [S1], org: ids.org() });
    await addSeedConfig(env, S1);
    await addSeedConfig(env, S2);
    server = await env.startServer();
    const agents = makeAgents();
    const tenants = {
      a1: { app: appA, stream: S1 },
      a2: { app: appA, stream: S2 },
      b1: { app: appB, stream: S1 },
    };
    await Promise.all(Object.entries(tenants).map(async ([k, v]) => {
      const client = server.client(v.app, v.stream);
      const cfg = await env.streamConfig(v.stream);
      t[k] = await seed({ client, cfg }, { cases: 8, tasksPerCase: 4, seed: 23, agents, width: 4 });
      t[k].stream = v.stream;
    }));
    t.appA2 = appA2;
    t.agents = agents;
  }, H);
  after(async () => { await env?.dispose(); }, H);

  const TENANTS = ['a1', 'a2', 'b1'];

  it('the tenants hold look-alike records', T, () => {
    for (const k of TENANTS) assert.ok(t[k].tasks.length > 5 && t[k].cases.length === 8);
    const names = (k) => t[k].cases.map((c) => c.name).join('|');
    assert.equal(names('a1'), names('b1'), 'the same names in both accounts');
    assert.equal(names('a1'), names('a2'), 'the same names in both streams');
  });

  for (const kind of KINDS) {
    it(`${ENDPOINT[kind]}: each tenant lists its own records only`, T, async () => {
      for (const k of TENANTS) {
        const r = await check(t[k], kind, { limit: 500 });
        assert.equal(r.page.totalResults, t[k].docs(kind).length, `${k}: totalResults counts its own records only`);
        for (const d of r.page.results) {
          assert.equal(d.iId, t[k].stream, `${k}: iId`);
          assert.equal(d.accountId, t[k].client.app.account, `${k}: accountId`);
        }
      }
    });

    it(`${ENDPOINT[kind]}: filters that match the other tenants' records find only the tenant's own`, T, async () => {
      for (const k of TENANTS) {
        const c = (body, opts) => check(t[k], kind, { ...body, limit: 500 }, opts);
        for (const o of TENANTS) {
          for (const d of t[o].docs(kind).slice(0, 4)) {
            await c({ searchText: d.refId });
            await c({ searchText: d.name });
            await c({ name: d.name.slice(0, 6) });
          }
        }
        await c({ agents: t.agents.map((a) => a._id) });
        await c({ mytask: true }, { sub: t.agents[0]._id });
        await c({ mycase: true, unresolved: true }, { sub: t.agents[1]._id });
        await c({ queues: QUEUE_VALUES });
        await c({ channel: ['rtm', 'chat', 'email', 'voice', 'sms', 'web'] });
        await c({ priority: ['Critical'], status: ['In-Progress'], sortBy: { dueDate: 'desc' } });
        await c({ ETAlist: ['overdue', 'today', 'tomorrow', 'thisWeek', 'later', 'none'], sortBy: { refId: 'asc' } });
        await c({ startDate: new Date(Date.now() - 3_600_000).toISOString(), sortBy: 'name' });
        await c({ customFields: [{ name: 'sev', value: [1, 2, 3, 4, 5] }] });
        await c({ customFields: [{ name: 'region', value: ['EMEA', 'APAC', 'emea'] }] });
      }
    });
  }

  it('getTasks caseId of another account\'s or another stream\'s case: no tasks', T, async () => {
    for (const k of TENANTS) {
      for (const o of TENANTS) {
        const cs = t[o].cases[0];
        const r = await check(t[k], TASK, { caseId: cs._id, limit: 500 });
        if (k === o) assert.ok(r.page.totalResults > 0, `${k}: its own case's tasks`);
        else assert.equal(r.page.totalResults, 0, `${k}: tasks of ${o}'s case`);
      }
    }
  });

  it('another app of the same account sees the same records of the stream', T, async () => {
    const client = server.client(t.appA2, t.a1.stream);
    for (const kind of KINDS) {
      const r = await check({ ...t.a1, client }, kind, { limit: 500 });
      assert.equal(r.page.totalResults, t.a1.docs(kind).length);
      await check({ ...t.a1, client }, kind, { searchText: t.a1.docs(kind)[0].refId, limit: 500 });
    }
  });

  it('an accountId header of another account, or a stream the app is not associated with: 403', T, async () => {
    for (const kind of [CASE, TASK]) {
      const r1 = await list(t.b1.client, kind, {}, { accountId: t.a1.client.app.account });
      assertError(r1, 403);
      const r2 = await list(t.b1.client, kind, {}, { stream: t.a2.stream });
      assertError(r2, 403);
      const r3 = await list(server.client(t.appA2, t.a1.stream), kind, {}, { stream: t.a2.stream });
      assertError(r3, 403);
      const ok = await listOk(t.a1.client, kind, {}, { stream: t.a2.stream });
      assert.equal(ok.totalResults, t.a2.docs(kind).length, 'app A on its second stream');
    }
  });
});
