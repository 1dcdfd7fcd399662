// getCases/getTasks (API.md §8, §1, §10): every refusal. Unknown members, wrong types, bad
// values, too-long arrays, missing accountId, non-JSON bodies: each a 400 (415, 405) in the
// error envelope naming the member at fault; and the values that mean "no filter" (null, "",
// [], false) are accepted.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, H, T } from './lib/env.mjs';
import { assertError, request } from './lib/client.mjs';
import { CASE, TASK, KINDS, ENDPOINT, list, listOk, addSeedConfig } from './lib/query.mjs';

const STRING_MEMBERS = ['searchText', 'name', 'startDate', 'endDate', 'dueDate'];
const BOOL_MEMBERS = ['unresolved', 'unassigned', 'mycase', 'mytask'];
const STRINGS_MEMBERS = ['priority', 'status', 'channel', 'queues', 'agents', 'ETAlist', 'selectedColumns'];
/** A valid element of each string-array member, for the length limit. */
const VALID_ELEM = { priority: 'Low', status: 'Open', channel: 'chat', queues: 'Tier 1', agents: 'u-1', ETAlist: 'none', selectedColumns: 'name' };

describe('getCases/getTasks refusals (API.md §8, §10)', () => {
  const ctx = useServer({ beforeStart: (c) => addSeedConfig(c.env, c.app.streams[0]) });
  let theCase;
  before(async () => {
    theCase = await ctx.client.newCase(ctx.cfg, { name: 'Error suite case' });
    await ctx.client.newTask(ctx.cfg, theCase, { name: 'Error suite task' });
  }, H);

  /** Asserts that body is refused with 400 reason naming field, on the endpoint of kind. */
  async function refused(kind, body, reason, field, status = 400) {
    const r = await list(ctx.client, kind, body);
    assertError(r, status, reason, field);
  }

  for (const kind of KINDS) {
    const ep = ENDPOINT[kind];
    describe(ep, () => {
      it('accountId header required: 400 missing_header', T, async () => {
        const r = await list(ctx.client, kind, {}, { accountId: null });
        assertError(r, 400, 'missing_header');
      });

      it('Content-Type must be JSON (415); GET is 405 with Allow: POST', T, async () => {
        for (const ct of ['text/plain', 'application/x-www-form-urlencoded', null]) {
          const r = await list(ctx.client, kind, '{}', { headers: { 'content-type': ct } });
          assertError(r, 415);
        }
        const g = await request(ctx.client.url(ep), { method: 'GET', headers: { auth: ctx.client.token(), accountid: ctx.app.account } });
        assert.equal(g.status, 405);
        assert.match(g.headers.get('allow') ?? '', /POST/);
      });

      it('a body that is not a JSON object is 400', T, async () => {
        for (const raw of ['{', '{"skip":}', '[]', '"x"', '5', 'null', 'true', '{"skip":0}{}']) {
          const r = await list(ctx.client, kind, raw);
          assertError(r, 400);
        }
      });

      it('unknown members: 400 unknown_member naming them', T, async () => {
        for (const m of ['foo', 'Skip', 'LIMIT', 'sortby', 'selectedcolumns', 'searchtext', 'etalist', 'page', 'filters', 'accountId', 'streamId']) {
          await refused(kind, { [m]: 1 }, 'unknown_member', m);
        }
        await refused(kind, { limit: 10, bogus: true }, 'unknown_member', 'bogus');
        await refused(kind, { '': 1 }, 'unknown_member');
        const r = await list(ctx.client, kind, JSON.stringify({ limit: 'x', sortby: 1, serchText: 'a' }));
        assertError(r, 400, 'unknown_member');
        const msg = r.json.errors[0].msg;
        assert.ok(msg.includes('sortby') && msg.includes('serchText'), `every unknown member named, before the wrong type: ${msg}`);
        if (kind === CASE) await refused(kind, { caseId: theCase._id }, 'unknown_member', 'caseId');
      });

      it('wrong types: 400 invalid_type naming the member', T, async () => {
        for (const m of ['skip', 'limit']) {
          for (const v of ['1', 1.5, true, [], {}, [1]]) await refused(kind, { [m]: v }, 'invalid_type', m);
        }
        const strMembers = kind === TASK ? [...STRING_MEMBERS, 'caseId'] : STRING_MEMBERS;
        for (const m of strMembers) {
          for (const v of [5, true, false, ['x'], { a: 1 }]) await refused(kind, { [m]: v }, 'invalid_type', m);
        }
        for (const m of BOOL_MEMBERS) {
          for (const v of ['true', 'false', 1, 0, [], {}]) await refused(kind, { [m]: v }, 'invalid_type', m);
        }
        for (const m of STRINGS_MEMBERS) {
          for (const v of ['x', 5, true, { a: 'x' }, [1], [null], [{}], [['x']], ['ok', 2]]) await refused(kind, { [m]: v }, 'invalid_type', m);
        }
        for (const v of ['x', 5, true, { name: 'sev', value: 1 }, ['x'], [1], [null], [[]]]) await refused(kind, { customFields: v }, 'invalid_type', 'customFields');
        for (const v of [5, true, [], ['createdAt']]) await refused(kind, { sortBy: v }, 'invalid_type', 'sortBy');
      });

      it('skip < 0, limit 0 or above 500: 400 invalid_value', T, async () => {
        await refused(kind, { skip: -1 }, 'invalid_value', 'skip');
        // a whole number past 2^53, written as a float or as a 21-digit integer (read as a real),
        // is out of range, not of the wrong type (it was invalid_type "must be an integer")
        for (const raw of ['{"skip":1e16}', '{"skip":100000000000000000000}']) {
          const r = await list(ctx.client, kind, raw);
          assertError(r, 400, 'invalid_value', 'skip');
        }
        for (const raw of ['{"limit":1e20}', '{"limit":100000000000000000000}']) {
          const r = await list(ctx.client, kind, raw);
          assertError(r, 400, 'invalid_value', 'limit');
        }
        await refused(kind, { skip: -100, limit: 10 }, 'invalid_value', 'skip');
        for (const l of [0, 501, -1, 1000]) await refused(kind, { limit: l }, 'invalid_value', 'limit');
        await listOk(ctx.client, kind, { limit: 500 });
        await listOk(ctx.client, kind, { limit: 1, skip: 0 });
        await listOk(ctx.client, kind, { skip: 1_000_000_000, limit: 500 });
      });

      it('priority[] and status[] names that are not the stream\'s: 400 invalid_value', T, async () => {
        for (const v of [['Urgent'], ['Critical', 'nope'], [''], ['Crit'], ['Critical!']]) await refused(kind, { priority: v }, 'invalid_value', 'priority');
        for (const v of [['Pending'], ['inprogress'], ['Open', 'Reopened'], ['']]) await refused(kind, { status: v }, 'invalid_value', 'status');
      });

      it('unparsable dates: 400 invalid_value', T, async () => {
        for (const m of ['startDate', 'endDate', 'dueDate']) {
          for (const v of ['yesterday', '2025-13-01', '06/04/2025', '2025-06-04T25:00:00Z', 'x2025-06-04', '1749032280000']) {
            await refused(kind, { [m]: v }, 'invalid_value', m);
          }
        }
      });

      it('ETAlist: unknown bucket: 400 invalid_value', T, async () => {
        for (const v of [['someday'], ['overdue', 'nope'], ['']]) await refused(kind, { ETAlist: v }, 'invalid_value', 'ETAlist');
      });

      it('selectedColumns: a name that is not a document member: 400 invalid_value', T, async () => {
        const bad = ['foo', 'lid', 'emailId', 'results', ''];
        if (kind === CASE) bad.push('caseId', 'caseRefId', 'taskTmp', 'isCustTsk');
        else bad.push('tasks');
        for (const c of bad) await refused(kind, { selectedColumns: [c] }, 'invalid_value', 'selectedColumns');
        await refused(kind, { selectedColumns: ['name', 'nope'] }, 'invalid_value', 'selectedColumns');
      });

      it('sortBy: unknown member or direction: 400 invalid_value', T, async () => {
        for (const v of [{ foo: 'asc' }, { name: 'up' }, { name: 0 }, { name: 2 }, { name: true }, { name: null }, { name: {} }, { createdAt: '' },
          'foo', 'Name', 'status', 'asc', { status: 'asc' }, { _id: 'asc' },
          { '': 'sideways' }, { '': 5 }, { '': 'asc' }]) { // an empty member was no sort at all
          await refused(kind, { sortBy: v }, 'invalid_value', 'sortBy');
        }
      });

      it('customFields: malformed elements: 400 naming customFields', T, async () => {
        for (const v of [[{}], [{ name: 'sev' }], [{ value: 3 }], [{ name: 'sev', value: { a: 1 } }], [{ name: 'sev', value: [{}] }], [{ name: 'sev', value: null }], [{ name: 'sev', value: [] }], [{ name: 5, value: 1 }]]) {
          await refused(kind, { customFields: v }, ['invalid_value', 'invalid_type'], 'customFields');
        }
      });

      it('arrays hold at most 100 values: 101 is 400 array_too_long, 100 is fine', T, async () => {
        for (const m of STRINGS_MEMBERS) {
          await refused(kind, { [m]: Array(101).fill(VALID_ELEM[m]) }, 'array_too_long', m);
          await listOk(ctx.client, kind, { [m]: Array(100).fill(VALID_ELEM[m]) }, undefined, `${ep} ${m}: 100 values`);
        }
        const cf = (n) => Array.from({ length: n }, (_, i) => ({ name: 'sev', value: i % 5 }));
        await refused(kind, { customFields: cf(101) }, 'array_too_long', 'customFields');
        await listOk(ctx.client, kind, { customFields: cf(100) }, undefined, `${ep} customFields: 100 elements`);
      });

      it('null, "", [], false and {} mean "no filter"', T, async () => {
        const all = await listOk(ctx.client, kind, {});
        const body = {};
        for (const m of [...STRING_MEMBERS, ...STRINGS_MEMBERS, 'customFields', ...(kind === TASK ? ['caseId'] : [])]) body[m] = null;
        const nulls = await listOk(ctx.client, kind, body);
        assert.equal(nulls.totalResults, all.totalResults, 'every member null');
        for (const k of Object.keys(body)) body[k] = STRING_MEMBERS.includes(k) || k === 'caseId' ? '' : [];
        for (const m of BOOL_MEMBERS) body[m] = false;
        const empties = await listOk(ctx.client, kind, body);
        assert.equal(empties.totalResults, all.totalResults, 'every member "" / [] / false');
        assert.ok(all.totalResults >= 1);
      });
    });
  }
});
