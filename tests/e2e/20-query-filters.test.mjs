// getCases/getTasks (API.md §8): every filter alone and in combination, against a data set
// seeded here over HTTP; the expected answers come from the model in lib/query.mjs (a filter
// and sort written from the spec over the documents the seeding calls returned). Every answer
// is compared whole: page shape, totalResults, ordered _ids and the documents themselves.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, H, T } from './lib/env.mjs';
import { request } from './lib/client.mjs';
import {
  CASE, TASK, KINDS, ENDPOINT, DAY, seed, addSeedConfig, check, listOk, list, assertPage, etaBucket,
  QUEUE_VALUES, strangerId, isoDay, dayStart, withBreach, ETA_BUCKETS, assigneeOf,
} from './lib/query.mjs';

describe('getCases/getTasks filters (API.md §8)', () => {
  const ctx = useServer({ beforeStart: (c) => addSeedConfig(c.env, c.app.streams[0]) });
  let data;
  before(async () => { data = await seed(ctx, { cases: 40, tasksPerCase: 8, seed: 20 }); }, H);

  it('the seed is varied enough for the tests below', T, () => {
    const now = Date.now();
    for (const kind of KINDS) {
      const docs = data.docs(kind);
      const count = (f) => docs.filter(f).length;
      const buckets = new Set(docs.map((d) => etaBucket(d.dueDate, now)));
      for (const b of ['overdue', 'tomorrow', 'later', 'none']) assert.ok(buckets.has(b), `${kind}: a record in ETA bucket ${b}`);
      assert.ok(new Set(docs.map((d) => d.status.name)).size >= 5, `${kind}: several statuses`);
      assert.ok(new Set(docs.map((d) => d.priority.name)).size >= 4, `${kind}: several priorities`);
      assert.ok(count((d) => d.currAssignee?._id) > 5 && count((d) => !assigneeOf(d)) > 5, `${kind}: assigned and unassigned`);
      assert.ok(count((d) => !d.currAssignee?._id && assigneeOf(d)) > 3, `${kind}: assigned by agentId, the vendor's shape`);
      assert.ok(count((d) => d.queues.some((q) => typeof q === 'object')) > 0 && count((d) => d.queues.some((q) => typeof q === 'string')) > 0, `${kind}: queues as objects and strings`);
    }
    assert.ok(data.tasks.length >= 120, `a few hundred records (tasks: ${data.tasks.length}, cases: ${data.cases.length})`);
    assert.ok(data.tasks.some((t) => t.fields.some((f) => f.metaData.name === 'sev' && 'selectedValue' in f)), 'custom field values');
  });

  for (const kind of KINDS) {
    describe(`${ENDPOINT[kind]}`, () => {
      const c = (body, opts) => check(data, kind, body, opts);

      it('no filter: every record, createdAt desc, whole documents, default limit 50', T, async () => {
        await c({});
        await c({ limit: 500 });
        await c({ skip: 50, limit: 500 });
      });

      it('an empty body is {}', T, async () => {
        const r = await request(data.client.url(ENDPOINT[kind]), {
          headers: { 'content-type': 'application/json', auth: data.client.token(), accountid: ctx.app.account },
          body: '',
        });
        const page = assertPage(r, {}, `${ENDPOINT[kind]} with an empty body`);
        assert.equal(page.totalResults, data.docs(kind).length);
      });

      it('searchText: case-insensitive substring of name, or exact refId', T, async () => {
        const ref = data.docs(kind)[7].refId;
        for (const s of ['printer', 'PRINTER', 'nTeR iSs', 'testing', 'e', 'ou', '100%', '0%', '% d', 'disk_f', 'k_f', '_', '%', 'zz-miss',
          'brûlée', 'ïve caf', 'é', 'straße', 'STRAßE', 'Ünïcode', 'ünïcode', 'CODE TEST',
          // two characters in three or more bytes: SQLite's trigram index finds nothing for them
          'fé', 'FÉ', 'é ', 'ûl', 'RÈ', 'ße', 'aï',
          ' ', '  ', '"', '"this"', "'s", "o'reilly", '*', 'a*b', 'AND', 'or not', '(NEAR)', 'NEAR(', '\\', 'path\\to', '-x', '^caret',
          '{col}:1', 'this" OR "x', "'; drop table", '--', 'x'.repeat(2000)]) {
          await c({ searchText: s, limit: 500 });
        }
        const r1 = await c({ searchText: ref.toLowerCase(), limit: 500 });
        assert.ok(r1.page.results.some((d) => d.refId === ref), `refId ${ref.toLowerCase()} finds ${ref}`);
        await c({ searchText: ref, limit: 500 });
        await c({ searchText: ref.slice(0, -1), limit: 500 }); // a refId prefix is no refId
        // a refId that is also part of some names: the record with that refId and those names
        for (const s of [data.cases[1].refId.toLowerCase(), 'ts000003', 'CS000004', 'Follow-up of']) {
          await c({ searchText: s, limit: 500 }, { nonEmpty: kind === TASK || /^cs/i.test(s) });
        }
        await c({ searchText: '', limit: 500 });
        await c({ searchText: null, limit: 500 });
      });

      it('searchText and name: two characters in three bytes (SQLite\'s trigram index alone finds none)', T, async () => {
        // the seed names case 7 "Crème brûlée request" and case 26 "naïve café question"
        for (const s of ['aï', 'ÏV', 'rû', 'ée', 'é ', 'ße']) {
          await c({ searchText: s, limit: 500 }, { nonEmpty: kind === CASE && s !== 'ße' });
          await c({ name: s, limit: 500 }, { nonEmpty: kind === CASE && s !== 'ße' });
        }
      });

      it('name: case-insensitive substring of name only', T, async () => {
        for (const s of ['Testing', 'network ERR', 'disk_full', '100%', 'q', 'crème', 'NAÏVE', 'ünïcode', 'fé', 'FÉ', 'é ', 'ûl', 'ße']) {
          const r = await c({ name: s, limit: 500 });
          if (['fé', 'ûl'].includes(s)) assert.ok(r.page.totalResults > 0, `name ${s} finds the seeded non-ASCII names`);
        }
        const docs = data.docs(kind);
        const ref = docs.map((d) => d.refId).find((x) => !docs.some((d) => d.name.toLowerCase().includes(x.toLowerCase())));
        const r = await c({ name: ref, limit: 500 });
        assert.equal(r.page.totalResults, 0, 'a refId is no name');
        await c({ name: '', limit: 500 });
        await c({ name: null, limit: 500 });
      });

      it('unresolved and unassigned (false is no filter)', T, async () => {
        await c({ unresolved: true, limit: 500 }, { nonEmpty: true });
        await c({ unresolved: false, limit: 500 });
        await c({ unassigned: true, limit: 500 }, { nonEmpty: true });
        await c({ unassigned: false, limit: 500 });
      });

      it('mycase / mytask: assigned to the token\'s sub (both on both endpoints)', T, async () => {
        // an agent with a record of this kind assigned by agentId: which one depends on the order
        // the seed's parallel requests came back in (agents[0] had none at times)
        const byAgentId = data.docs(kind).find((d) => !d.currAssignee?._id && assigneeOf(d));
        const agent = assigneeOf(byAgentId);
        for (const member of ['mycase', 'mytask']) {
          for (const a of data.agents) await c({ [member]: true, limit: 500 }, { sub: a._id });
          const r = await c({ [member]: true, limit: 500 }, { sub: agent, nonEmpty: true });
          assert.ok(r.page.results.every((d) => assigneeOf(d) === agent));
          assert.ok(r.page.results.some((d) => !d.currAssignee._id), `${member}: one assigned by agentId`);
          await c({ [member]: true, limit: 500 }, { sub: strangerId() });
          const none = await c({ [member]: true, limit: 500 }); // a token without sub
          assert.equal(none.page.totalResults, 0, `${member} with a token without sub matches nothing`);
          await c({ [member]: false, limit: 500 }, { sub: data.agents[0]._id });
        }
      });

      it('priority[]: names as §4 matches them, OR within', T, async () => {
        for (const p of [['Critical'], ['critical'], ['LOW', 'high'], ['Medium', 'medium'], []]) await c({ priority: p, limit: 500 });
        await c({ priority: null, limit: 500 });
      });

      it('status[]: names as §4 matches them (case, space, - and _ alike), OR within', T, async () => {
        for (const s of [['In-Progress'], ['in progress'], ['IN_PROGRESS', 'on-hold'], ['waiting on customer'], ['Waiting-On_Customer'], ['Closed', 'resolved'], ['open'], []]) {
          await c({ status: s, limit: 500 });
        }
        await c({ status: null, limit: 500 });
      });

      it('channel[]: the channel array holds a value, or the source is one', T, async () => {
        for (const ch of [['rtm'], ['chat'], ['web'], ['voice', 'sms'], ['email'], ['nope'], []]) await c({ channel: ch, limit: 500 });
        const r = await c({ channel: ['web'], limit: 500 }, { nonEmpty: true });
        assert.ok(r.page.results.every((d) => d.channel.includes('web') || d.source === 'web'));
      });

      it('queues[]: string elements, object _ids and object names', T, async () => {
        for (const q of QUEUE_VALUES) await c({ queues: [q], limit: 500 }, { nonEmpty: true });
        await c({ queues: ['Tier 2', 'qu-vip'], limit: 500 });
        await c({ queues: ['qu-missing'], limit: 500 });
        await c({ queues: [], limit: 500 });
      });

      it('agents[]: currAssignee._id (else agentId) in the list', T, async () => {
        await c({ agents: [data.agents[0]._id], limit: 500 }, { nonEmpty: true });
        await c({ agents: [data.agents[1]._id, data.agents[2]._id], limit: 500 });
        await c({ agents: [strangerId()], limit: 500 });
        await c({ agents: [], limit: 500 });
      });

      it('startDate/endDate: inclusive bounds on createdAt; a date-only endDate covers its day', T, async () => {
        const created = data.docs(kind).map((d) => d.createdAt).sort();
        const mid = created[Math.floor(created.length / 2)];
        const q1 = created[Math.floor(created.length / 4)];
        const r1 = await c({ startDate: mid, limit: 500 });
        assert.ok(r1.page.results.some((d) => d.createdAt === mid), 'startDate is inclusive');
        const r2 = await c({ endDate: mid, limit: 500 });
        assert.ok(r2.page.results.some((d) => d.createdAt === mid), 'endDate is inclusive');
        await c({ startDate: q1, endDate: mid, limit: 500 });
        await c({ startDate: mid, endDate: mid, limit: 500 }, { nonEmpty: true });
        // past the millisecond a start rounds up: truncated, it took in the record at mid
        const finer = await c({ startDate: mid.replace(/Z$/, '1Z'), limit: 500 });
        assert.ok(!finer.page.results.some((d) => d.createdAt === mid), `startDate ${mid.replace(/Z$/, '1Z')} is after ${mid}`);
        await c({ startDate: mid.replace(/Z$/, '000Z'), limit: 500 }, { nonEmpty: true });
        // the same instants written with an offset
        const shifted = (iso) => new Date(Date.parse(iso) + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
        await c({ startDate: shifted(q1), endDate: shifted(mid), limit: 500 });
        // lower precisions: seconds, minutes
        const toSec = (iso) => iso.replace(/\.\d{3}Z$/, 'Z');
        const toMin = (iso) => iso.replace(/:\d\d\.\d{3}Z$/, 'Z');
        await c({ startDate: toSec(q1), endDate: toSec(mid), limit: 500 });
        await c({ startDate: toMin(q1), endDate: toMin(created.at(-1)), limit: 500 });
        const today = isoDay(Date.parse(created[0]));
        const all = await c({ startDate: today, endDate: today, limit: 500 });
        assert.equal(all.page.totalResults, data.docs(kind).length, 'date-only bounds of the day cover every record created that day');
        const before = await c({ endDate: isoDay(Date.parse(created[0]) - DAY), limit: 500 });
        assert.equal(before.page.totalResults, 0);
        await c({ startDate: isoDay(Date.parse(created.at(-1)) + DAY), limit: 500 });
        await c({ startDate: '', endDate: null, limit: 500 });
      });

      it('dueDate: records due on that UTC day', T, async () => {
        const now = Date.now();
        const withDue = data.docs(kind).filter((d) => typeof d.dueDate === 'number');
        const days = [...new Set(withDue.map((d) => dayStart(d.dueDate)))].slice(0, 6);
        for (const d of days) await c({ dueDate: isoDay(d), limit: 500 }, { nonEmpty: true });
        const tomorrow = dayStart(now) + DAY;
        await c({ dueDate: isoDay(tomorrow), limit: 500 });
        await c({ dueDate: new Date(tomorrow + 13 * 3_600_000 + 7).toISOString(), limit: 500 }); // a date-time names its day
        await c({ dueDate: isoDay(now + 400 * DAY), limit: 500 });
        // a date-time with an offset names the UTC day of its instant (here: the local date is the next day)
        const d0 = dayStart(withDue[0].dueDate);
        const local = new Date(d0 + 23 * 3_600_000).toISOString().slice(0, 10) + 'T' + '01:30:00+02:00';
        const nextDay = isoDay(d0 + DAY);
        await c({ dueDate: local.replace(/^\d{4}-\d\d-\d\d/, nextDay), limit: 500 }, { nonEmpty: true });
        await c({ dueDate: '', limit: 500 });
      });

      it('ETAlist[]: disjoint buckets relative to now, OR within', T, async () => {
        for (const b of ETA_BUCKETS) await c({ ETAlist: [b], limit: 500 });
        await c({ ETAlist: ['overdue', 'none'], limit: 500 }, { nonEmpty: true });
        await c({ ETAlist: ['today', 'tomorrow', 'thisWeek'], limit: 500 });
        const all = await c({ ETAlist: ETA_BUCKETS, limit: 500 });
        assert.equal(all.page.totalResults, data.docs(kind).length, 'the six buckets cover every record exactly once');
        await c({ ETAlist: [], limit: 500 });
        // a repeated name filled the server's six bucket slots and the buckets after it were dropped
        const twoOf = await c({ ETAlist: ['overdue', 'later'], limit: 500 }, { nonEmpty: true });
        const repeated = await c({ ETAlist: [...Array(7).fill('overdue'), 'later', 'later'], limit: 500 }, { nonEmpty: true });
        assert.equal(repeated.page.totalResults, twoOf.page.totalResults);
      });

      it('customFields[]: by field _id or name, values OR, elements AND, exact match', T, async () => {
        const f = data.fieldIds;
        const bodies = kind === TASK
          ? [
            [{ name: 'sev', value: 3 }],
            [{ _id: f.triageSev, value: 3 }],
            [{ _id: f.escalationSev, value: [4, 5] }],
            [{ name: 'sev', value: [1, 2] }],
            [{ name: 'team', value: 'blue' }],
            [{ name: 'team', value: 'Blue' }],
            [{ name: 'team', value: ['red', 'green'] }],
            [{ name: 'sev', value: [2, 3, 4] }, { name: 'team', value: ['blue', 'red'] }],
            [{ _id: f.triageTeam, value: 'red' }, { name: 'sev', value: 5 }],
            [{ name: 'sev', value: 99 }],
            [{ name: 'nosuchfield', value: 'x' }],
          ]
          : [
            [{ name: 'region', value: 'EMEA' }],
            [{ name: 'region', value: ['emea', 'APAC'] }],
            [{ _id: f.region, value: 'APAC' }],
            [{ name: 'sev', value: 3 }],
          ];
        for (const cf of bodies) await c({ customFields: cf, limit: 500 });
        const byName = await c({ customFields: [{ name: 'sev', value: 3 }] , limit: 500 });
        if (kind === TASK) {
          const byId = await c({ customFields: [{ _id: f.triageSev, value: 3 }], limit: 500 });
          assert.ok(byId.page.totalResults <= byName.page.totalResults, 'an _id names one template\'s field');
        }
        await c({ customFields: [], limit: 500 });
      });

      it('combinations: filters AND, values within a filter OR', T, async () => {
        const a0 = data.agents[0]._id;
        const a1 = data.agents[1]._id;
        const combos = [
          { unresolved: true, priority: ['Critical', 'High'], sortBy: { dueDate: 'asc' } },
          { unresolved: true, ETAlist: ['overdue'] },
          { queues: ['Tier 1', 'qu-billing'], channel: ['chat', 'rtm'] },
          { status: ['open', 'on hold'], agents: [a0, a1], sortBy: { priority: 'desc' } },
          { searchText: 'e', priority: ['low', 'medium'], unassigned: true },
          { name: 'issue', ETAlist: ['later', 'none'], sortBy: 'name' },
          { unresolved: true, unassigned: true, channel: ['email', 'voice'] },
          { startDate: data.docs(kind)[5].createdAt, ETAlist: ['tomorrow', 'thisWeek', 'later'], status: ['Open', 'In-Progress', 'Waiting on Customer'] },
          { searchText: 'printer', name: 'issue' },
          { queues: ['VIP', 'Network Ops'], unresolved: true, sortBy: { refId: 'asc' } },
          { priority: ['critical'], status: ['resolved'], unresolved: true }, // contradictory: nothing
          { startDate: data.docs(kind)[9].createdAt, endDate: data.docs(kind)[2].createdAt }, // may be an empty range
          { priority: ['p0 blocker', 'Critical'], sortBy: { priority: 'asc' } },
          { dueDate: isoDay(Date.now() + DAY), ETAlist: ['tomorrow', 'today'], sortBy: { dueDate: 'asc' } },
        ];
        for (const body of combos) await c({ ...body, limit: 500 });
        await c({ mytask: true, unresolved: true, sortBy: { dueDate: 'asc' }, limit: 500 }, { sub: a0 });
        await c({ mycase: true, status: ['open', 'in progress'], queues: QUEUE_VALUES.slice(0, 4), limit: 500 }, { sub: a1 });
        if (kind === TASK) {
          await c({ customFields: [{ name: 'sev', value: [3, 4, 5] }], unresolved: true, priority: ['high', 'critical', 'medium'], limit: 500 });
          await c({ caseId: data.cases[0]._id, unresolved: true, sortBy: { name: 'asc' }, limit: 500 });
        }
      });

      it('isBreached is computed at read time (unresolved and dueDate < now)', T, async () => {
        const page = await listOk(data.client, kind, { limit: 500 });
        const now = Date.now();
        for (const d of page.results) {
          const exp = withBreach(data.byId.get(d._id), now).isBreached;
          assert.equal(d.isBreached, exp, `${d.refId} isBreached`);
        }
        assert.ok(page.results.some((d) => d.isBreached) && page.results.some((d) => !d.isBreached));
      });
    });
  }

  describe('getTasks only', () => {
    it('caseId: the tasks of one case', T, async () => {
      const counts = new Map();
      for (const t of data.tasks) counts.set(t.caseId, (counts.get(t.caseId) ?? 0) + 1);
      const empty = data.cases.find((x) => !counts.has(x._id));
      for (const cs of [data.cases[0], data.cases[1], data.cases[9], empty].filter(Boolean)) {
        const r = await check(data, TASK, { caseId: cs._id, limit: 500 });
        assert.equal(r.page.totalResults, counts.get(cs._id) ?? 0, `tasks of ${cs.refId}`);
      }
      await check(data, TASK, { caseId: 'ci-0000000-0000-4000-8000-000000000000', limit: 500 });
      await check(data, TASK, { caseId: '', limit: 500 });
      // found by the case's index whatever the order, the skip and a search beside it (SQLite)
      const cs = data.cases[0]._id;
      const named = data.tasks.find((t) => t.caseId === cs).name.toLowerCase().slice(0, 4);
      for (const sortBy of [{ updatedAt: 'desc' }, { updatedAt: 'asc' }, { dueDate: 'desc' }, { refId: 'asc' }]) {
        await check(data, TASK, { caseId: cs, sortBy, limit: 500 });
        await check(data, TASK, { caseId: cs, sortBy, skip: 1, limit: 2 });
      }
      await check(data, TASK, { caseId: cs, searchText: named, sortBy: { updatedAt: 'desc' }, limit: 500 });
      await check(data, TASK, { caseId: cs, name: named, unresolved: true, limit: 500 });
    });

    it('a task due a moment after it was created reads as breached once that moment passed', T, async () => {
      const created = data.createdTasks.find((t) => t._id === data.soonId);
      assert.equal(created.isBreached, false, 'not breached when created');
      const r = await check(data, TASK, { searchText: created.refId });
      assert.equal(r.page.results.length, 1);
      assert.equal(r.page.results[0].isBreached, true, 'breached when read after its due moment');
      const od = await check(data, TASK, { ETAlist: ['overdue'], unresolved: true, limit: 500 });
      assert.ok(od.page.results.some((d) => d._id === data.soonId), 'in the overdue bucket');
    });

    it("the vendor's getTasks sample body", T, async () => {
      const from = Date.parse(data.tasks.map((t) => t.createdAt).sort()[0]) - 60_000;
      const body = {
        skip: 0, limit: 10, searchText: '', unresolved: true, unassigned: false, mytask: false, selectedColumns: [],
        priority: ['Critical'], agents: [], status: ['In-Progress'], customFields: [], ETAlist: [], channel: ['rtm'], queues: [],
        startDate: new Date(from).toISOString(), endDate: new Date(Date.now() + 60_000).toISOString(), sortBy: { dueDate: 'desc' },
      };
      const r = await check(data, TASK, body, { nonEmpty: true });
      // and with the vendor's browser headers (unknown headers are ignored; header names are case-insensitive)
      const withHeaders = await list(data.client, TASK, body, {
        accountId: null,
        headers: {
          'sec-ch-ua': '"Google Chrome";v="123", "Not:A-Brand";v="8", "Chromium";v="123"', AccountId: ctx.app.account, 'client-app': 'unified',
          'X-Timezone-Offset': '-330', state: 'configured', Iid: ctx.app.streams[0], 'content-type': 'application/json;charset=UTF-8',
          Accept: 'application/json, text/plain, */*', 'bot-language': 'en', 'app-language': 'en', Referer: 'http://localhost/builder/app/welcomeflows',
        },
      });
      assert.equal(withHeaders.status, 200, withHeaders.text.slice(0, 300));
      assert.deepEqual(withHeaders.json.results.map((d) => d._id), r.page.results.map((d) => d._id));
      assert.ok(r.page.results.length >= 3, 'the three sample records of the seed');
      for (const d of r.page.results) {
        assert.equal(d.priority.name, 'Critical');
        assert.equal(d.status.name, 'In-Progress');
        assert.ok(d.source === 'rtm' || d.channel.includes('rtm'));
      }
    });
  });

  it("getCases: the vendor's sample body {\"name\": \"Testing\"}", T, async () => {
    const r = await check(data, CASE, { name: 'Testing' }, { nonEmpty: true });
    assert.ok(r.page.results.every((d) => /testing/i.test(d.name)));
    const raw = await list(data.client, CASE, undefined, { body: '{\n    "name": "Testing"\n}', headers: { 'content-type': 'application/json;charset=UTF-8' } });
    assert.equal(raw.status, 200);
    assert.equal(raw.json.totalResults, r.page.totalResults);
  });
});
