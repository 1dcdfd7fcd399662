// updateTask/updateCase (API.md §7): closed-case lifecycle (409), If-Match/ETag (412),
// activities and getActivities, tenant isolation (404, nothing changed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, ids, T } from './lib/env.mjs';
import { assertError, assertOk, RawConn, buildRequest, apiBase } from './lib/client.mjs';
import {
  TASK, CASE, MANAGED, update, updateTask, updateCase, okDoc, snapshot, assertUnchanged, newPair, newCase,
  getActivities, changedMembers, ISO_MS, AC_ID, isDeepEqual,
} from './lib/update.mjs';

const DAY = 86_400_000;

async function activityCount(client, id) {
  const r = await getActivities(client, id, { limit: 1 });
  assertOk(r, 'getActivities');
  return r.json.totalResults;
}

describe('13 lifecycle, If-Match, activities, tenants', () => {
  const stream = ids.stream();
  const account = ids.account();
  const ctx = useServer({
    app: { org: ids.org(), name: 'Life bot', streams: [stream], account },
    beforeStart: async (c) => {
      await c.env.cliJson(['status', 'add', '--stream', stream, '--name', 'Archived', '--category', 'closed']);
      c.env.forget(stream);
    },
  });

  // ------------------------------------------------------------------ closed case
  describe('a task of a closed case', () => {
    it('refuses any change with 409 conflict "case CSxxxxxx is closed"; nothing changed; no-ops still 200', T, async () => {
      const { theCase, task } = await newPair(ctx, { desc: 'before closing', dueDate: Date.now() + DAY });
      const closed = okDoc(await updateCase(ctx.client, theCase.doc._id, { status: { name: 'Closed' } }));
      assert.equal(closed.doc.status.statusCategory, 'closed');
      const msg = `case ${theCase.doc.refId} is closed`;
      for (const body of [{ desc: 'after closing' }, { name: 'Renamed' }, { status: { name: 'Resolved' } }, { tags: ['x'] }, { dueDate: null },
        { currAssignee: { _id: 'u-1' } }, { fields: [{ metaData: { name: 'description' }, selectedValue: 'via field' }] }]) {
        const r = await updateTask(ctx.client, task.doc._id, body);
        const e = assertError(r, 409, 'conflict');
        assert.equal(e.msg, msg, `exact message for ${JSON.stringify(body)}`);
      }
      await assertUnchanged(ctx.client, TASK, task, 'task of a closed case after 409s');
      assert.equal(await activityCount(ctx.client, task.doc._id), 0, 'no activity for refused changes');
      // changing nothing is fine
      for (const body of [{}, { desc: 'before closing' }, { status: { name: 'open' } }, task.doc, { lname: 'ignored', isBreached: true }]) {
        const r = await updateTask(ctx.client, task.doc._id, body);
        assert.equal(okDoc(r, `no-op ${JSON.stringify(body).slice(0, 60)}`).version, task.version);
      }
      // the case itself can be reopened, and then the task changes again
      okDoc(await updateCase(ctx.client, theCase.doc._id, { status: { name: 'In-Progress' } }));
      const d = okDoc(await updateTask(ctx.client, task.doc._id, { desc: 'after reopening' }));
      assert.equal(d.doc.desc, 'after reopening');
    });

    it('any status of category closed closes (custom "Archived"); resolved does not', T, async () => {
      const { theCase, task } = await newPair(ctx);
      okDoc(await updateCase(ctx.client, theCase.doc._id, { status: { name: 'Archived' } }));
      const e = assertError(await updateTask(ctx.client, task.doc._id, { desc: 'x' }), 409, 'conflict');
      assert.equal(e.msg, `case ${theCase.doc.refId} is closed`);
      okDoc(await updateCase(ctx.client, theCase.doc._id, { status: { name: 'Resolved' } }));
      assert.equal(okDoc(await updateTask(ctx.client, task.doc._id, { desc: 'x' })).doc.desc, 'x');
    });

    it('createTask into a closed case is 409 and creates nothing (keyed or not); into a resolved one 200', T, async () => {
      // it answered 200 with a task that every later update refused 409
      const { theCase } = await newPair(ctx);
      const taskBody = {
        caseId: theCase.doc._id, caseRefId: theCase.doc.refId, taskTmp: ctx.cfg.taskTemplates[0]._id,
        userInfo: { _id: 'u-closed', name: 'Sam Ortiz' }, source: 'rtm',
      };
      for (const status of ['Closed', 'Archived']) {
        okDoc(await updateCase(ctx.client, theCase.doc._id, { status: { name: status } }));
        const before = await snapshot(ctx.client, CASE, theCase.doc._id);
        for (const opts of [{}, { headers: { 'Idempotency-Key': `k-closed-${status}` } }]) {
          const e = assertError(await ctx.client.createTask(taskBody, opts), 409, 'conflict');
          assert.equal(e.msg, `case ${theCase.doc.refId} is closed`);
        }
        const after = await snapshot(ctx.client, CASE, theCase.doc._id);
        assert.deepEqual(after.doc.taskIds, before.doc.taskIds, 'no task joined the case');
        const listed = await ctx.client.post('getTasks', { caseId: theCase.doc._id });
        assert.equal(listed.json.totalResults, 1, 'only the task made before closing');
      }
      okDoc(await updateCase(ctx.client, theCase.doc._id, { status: { name: 'Resolved' } }));
      assertOk(await ctx.client.createTask(taskBody, { headers: { 'Idempotency-Key': 'k-closed-Closed' } }), 'into a resolved case, with the key a refused create used');
    });

    it('closing a task itself (task status Closed) does not block later task updates', T, async () => {
      const { task } = await newPair(ctx);
      okDoc(await updateTask(ctx.client, task.doc._id, { status: { name: 'Closed' } }));
      assert.equal(okDoc(await updateTask(ctx.client, task.doc._id, { desc: 'still editable' })).doc.desc, 'still editable');
    });
  });

  // ------------------------------------------------------------------ If-Match
  describe('If-Match / ETag', () => {
    for (const kind of [TASK, CASE]) {
      it(`${kind}: a matching If-Match ("v", W/"v", *, a list) applies; a stale one → 412 and nothing changed`, T, async () => {
        const { theCase, task } = await newPair(ctx);
        let rec = kind === TASK ? task : await snapshot(ctx.client, CASE, theCase.doc._id);
        const id = rec.doc._id;
        const forms = [(v) => `"${v}"`, (v) => `W/"${v}"`, () => '*', (v) => `"999", "${v}"`, (v) => `"${v}", "998"`, (v) => `W/"997",W/"${v}"`, (v) => ` "${v}" `];
        for (const mk of forms) {
          const im = mk(rec.version);
          const before = rec.version;
          rec = okDoc(await update(ctx.client, kind, id, { desc: `if-match ${im}` }, { headers: { 'if-match': im } }), `If-Match: ${im}`);
          assert.equal(rec.version, before + 1, `If-Match: ${im} applied`);
          assert.equal(rec.doc.desc, `if-match ${im}`);
        }
        const stale = [`"${rec.version - 1}"`, `W/"${rec.version + 1}"`, '"0"', `"${rec.version}0"`, 'garbage', `"${rec.version - 1}", "${rec.version + 5}"`];
        for (const im of stale) {
          const r = await update(ctx.client, kind, id, { desc: `stale ${im}` }, { headers: { 'if-match': im } });
          assertError(r, 412, 'precondition_failed');
          const r2 = await update(ctx.client, kind, id, {}, { headers: { 'if-match': im } });
          assertError(r2, 412, 'precondition_failed');
        }
        await assertUnchanged(ctx.client, kind, rec, 'after stale If-Match');
        const unknown = kind === TASK ? 'ti-0123456-89ab-4cde-8f01-23456789abcd' : 'ci-0123456-89ab-4cde-8f01-23456789abcd';
        assertError(await update(ctx.client, kind, unknown, { desc: 'x' }, { headers: { 'if-match': '"1"' } }), 404, 'not_found');
      });
    }

    it('If-Match sent as several field lines is one list (RFC 9110 §5.3)', T, async () => {
      // only the first line was read: "1" then "2" was 412 at version 2
      const { task } = await newPair(ctx);
      const send = async (lines, desc) => {
        const conn = await RawConn.open(ctx.server.port);
        try {
          conn.sock.write(buildRequest({
            path: `${apiBase(ctx.app.streams[0])}updateTask/${task.doc._id}`,
            headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', ctx.client.token()], ['accountId', ctx.app.account],
              ...lines.map((l) => ['If-Match', l])],
            body: JSON.stringify({ desc }),
          }));
          return await conn.readResponse(10_000);
        } finally {
          conn.destroy();
        }
      };
      const v = task.version;
      let r = await send([`"${v + 50}"`, `"${v}"`], 'second line matches');
      assert.equal(r.status, 200, r.text.slice(0, 300));
      r = await send([`"${v + 1}", "${v + 60}"`, '"0"'], 'first line matches');
      assert.equal(r.status, 200, r.text.slice(0, 300));
      r = await send([`"${v}"`, `"${v + 1}"`], 'no line matches');
      assert.equal(r.status, 412, r.text.slice(0, 300));
      assert.equal((await snapshot(ctx.client, TASK, task.doc._id)).doc.desc, 'first line matches');
    });

    it('two clients read version v; the first write wins, the second (If-Match "v") gets 412', T, async () => {
      const { task } = await newPair(ctx);
      const v = task.version;
      const a = okDoc(await updateTask(ctx.client, task.doc._id, { desc: 'first' }, { headers: { 'if-match': `"${v}"` } }));
      assertError(await updateTask(ctx.client, task.doc._id, { desc: 'second' }, { headers: { 'if-match': `"${v}"` } }), 412, 'precondition_failed');
      const now = await snapshot(ctx.client, TASK, task.doc._id);
      assert.equal(now.doc.desc, 'first');
      assert.equal(now.version, a.version);
    });
  });

  // ------------------------------------------------------------------ activities
  describe('activities', () => {
    it('one activity per change: ac- id, recordId, refId, kind, actor (JWT sub), createdAt, timestampValue, changes with old and new', T, async () => {
      const { task } = await newPair(ctx, { desc: 'old desc', tags: ['a'] });
      const sub = ids.user();
      const r = await updateTask(ctx.client, task.doc._id, { desc: 'new desc', tags: ['a', 'b'], dueDate: Date.parse('2035-01-01T00:00:00Z'), lname: 'ignored' },
        { claims: { sub, name: 'Ann Agent' } });
      const { doc } = okDoc(r);
      assert.equal(doc.activityIds.length, 1);
      const list = await getActivities(ctx.client, task.doc._id, {});
      assertOk(list);
      assert.equal(list.json.totalResults, 1);
      const a = list.json.results[0];
      assert.match(a._id, AC_ID);
      assert.equal(a._id, doc.activityIds[0], 'its id is appended to activityIds');
      assert.equal(a.recordId, task.doc._id);
      assert.equal(a.refId, task.doc.refId);
      assert.equal(a.kind, 'task');
      assert.equal(a.actor._id, sub);
      assert.equal(typeof a.actor.name, 'string');
      assert.equal(typeof a.actor.profImage, 'string');
      assert.match(a.createdAt, ISO_MS);
      assert.equal(a.createdAt, doc.updatedAt);
      assert.equal(a.timestampValue, doc.timestampValue);
      const byField = Object.fromEntries(a.changes.map((c) => [c.field, c]));
      assert.deepEqual(byField.desc, { field: 'desc', old: 'old desc', new: 'new desc' });
      assert.deepEqual(byField.tags, { field: 'tags', old: ['a'], new: ['a', 'b'] });
      assert.deepEqual(byField.dueDate, { field: 'dueDate', old: null, new: Date.parse('2035-01-01T00:00:00Z') }, 'old is null for an absent member');
      const managed = MANAGED(TASK);
      for (const c of a.changes) {
        assert.ok(!managed.includes(c.field), `managed member ${c.field} listed in changes`);
        assert.deepEqual(c.old, task.doc[c.field] ?? null, `${c.field}: old is the stored value before`);
        assert.deepEqual(c.new, doc[c.field] ?? null, `${c.field}: new is the stored value after`);
      }
      // removing dueDate: new is null
      const d2 = okDoc(await updateTask(ctx.client, task.doc._id, { dueDate: null }));
      const a2 = (await getActivities(ctx.client, task.doc._id, { limit: 1 })).json.results[0];
      assert.equal(a2._id, d2.doc.activityIds.at(-1));
      assert.deepEqual(a2.changes.find((c) => c.field === 'dueDate'), { field: 'dueDate', old: Date.parse('2035-01-01T00:00:00Z'), new: null });
      assert.equal(a2.actor._id, ctx.app.clientId, 'no sub: the app is the actor');
    });

    it('the changes name every member whose stored value changed (mirrored members included)', T, async () => {
      const { task } = await newPair(ctx);
      let prev = task.doc;
      const wrong = [];
      for (const body of [{ name: 'Mirror Me' }, { desc: 'mirrored' }, { dueDate: Date.now() + 2 * DAY }, { fields: [{ metaData: { name: 'title' }, selectedValue: 'From Title' }] },
        { currAssignee: { _id: 'u-1' } }, { caseTmp: prev.taskTmp, tags: ['t'] }]) {
        const { doc } = okDoc(await updateTask(ctx.client, task.doc._id, body));
        const a = (await getActivities(ctx.client, task.doc._id, { limit: 1 })).json.results[0];
        const expected = changedMembers(prev, doc).filter((k) => !MANAGED(TASK).includes(k));
        const got = a.changes.map((c) => c.field).sort();
        if (!isDeepEqual(got, expected)) wrong.push(`${JSON.stringify(body)}: changes ${JSON.stringify(got)}, stored members that changed ${JSON.stringify(expected)}`);
        prev = doc;
      }
      assert.deepEqual(wrong, [], `activity changes incomplete:\n${wrong.join('\n')}`);
    });

    it('no-ops and refused updates write no activity; activityIds and getActivities agree, newest first', T, async () => {
      const { theCase, task } = await newPair(ctx);
      const id = task.doc._id;
      for (let i = 0; i < 4; i++) okDoc(await updateTask(ctx.client, id, { desc: `step ${i}` }));
      okDoc(await updateTask(ctx.client, id, { desc: 'step 3' }));
      okDoc(await updateTask(ctx.client, id, {}));
      assertError(await updateTask(ctx.client, id, { desc: 5 }), 400);
      assertError(await updateTask(ctx.client, id, { desc: 'x' }, { headers: { 'if-match': '"1"' } }), 412);
      const snap = await snapshot(ctx.client, TASK, id);
      assert.equal(snap.doc.activityIds.length, 4);
      const list = (await getActivities(ctx.client, id, {})).json;
      assert.equal(list.totalResults, 4);
      assert.deepEqual(list.results.map((a) => a._id), [...snap.doc.activityIds].reverse(), 'newest first');
      assert.deepEqual(list.results.map((a) => a.changes.find((c) => c.field === 'desc').new), ['step 3', 'step 2', 'step 1', 'step 0']);
      // a case's own activities
      const c = okDoc(await updateCase(ctx.client, theCase.doc._id, { desc: 'case edit' }));
      const ca = (await getActivities(ctx.client, theCase.doc._id, {})).json;
      assert.equal(ca.totalResults, 1);
      assert.equal(ca.results[0].kind, 'case');
      assert.equal(ca.results[0].refId, theCase.doc.refId);
      assert.equal(ca.results[0].recordId, theCase.doc._id);
      assert.deepEqual(c.doc.activityIds, [ca.results[0]._id]);
    });

    it('getActivities pages like the queries: skip/limit, page, hasMore, totalPages, totalResults', T, async () => {
      const { task } = await newPair(ctx);
      const id = task.doc._id;
      for (let i = 0; i < 7; i++) okDoc(await updateTask(ctx.client, id, { tags: [`t${i}`] }));
      const all = (await getActivities(ctx.client, id, {})).json;
      assert.deepEqual({ ...all, results: all.results.length }, { results: 7, page: 1, limit: 50, hasMore: false, totalPages: 1, totalResults: 7 });
      const pages = [];
      for (const skip of [0, 3, 6]) {
        const p = (await getActivities(ctx.client, id, { skip, limit: 3 })).json;
        pages.push(p);
        assert.equal(p.page, skip / 3 + 1);
        assert.equal(p.limit, 3);
        assert.equal(p.totalPages, 3);
        assert.equal(p.totalResults, 7);
        assert.equal(p.hasMore, skip < 6);
        assert.equal(p.results.length, skip < 6 ? 3 : 1);
      }
      assert.deepEqual(pages.flatMap((p) => p.results.map((a) => a._id)), all.results.map((a) => a._id));
      const beyond = (await getActivities(ctx.client, id, { skip: 50, limit: 10 })).json;
      assert.deepEqual(beyond.results, []);
      assert.equal(beyond.hasMore, false);
      assertOk(await getActivities(ctx.client, id, { limit: 500 }));
      assertOk(await getActivities(ctx.client, id, { limit: 1, skip: 0 }));
    });

    it('getActivities refusals: accountId, unknown member, limit 0/501, bad skip, unknown id', T, async () => {
      const { task } = await newPair(ctx);
      const id = task.doc._id;
      assertError(await getActivities(ctx.client, id, {}, { accountId: null }), 400, 'missing_header', 'accountId');
      assertError(await getActivities(ctx.client, id, {}, { accountId: ids.account() }), 403, 'account_mismatch');
      assertError(await getActivities(ctx.client, id, { page: 2 }), 400, 'unknown_member', 'page');
      assertError(await getActivities(ctx.client, id, { limit: 0 }), 400, 'invalid_value', 'limit');
      assertError(await getActivities(ctx.client, id, { limit: 501 }), 400, 'invalid_value', 'limit');
      assertError(await getActivities(ctx.client, id, { skip: -1 }), 400, 'invalid_value', 'skip');
      assertError(await getActivities(ctx.client, id, { limit: '10' }), 400, 'invalid_type', 'limit');
      assertError(await getActivities(ctx.client, id, []), 400);
      assertError(await getActivities(ctx.client, 'ti-0123456-89ab-4cde-8f01-23456789abcd', {}), 404, 'not_found');
      assertError(await getActivities(ctx.client, 'ci-0123456-89ab-4cde-8f01-23456789abcd', {}), 404, 'not_found');
    });
  });

  // ------------------------------------------------------------------ tenants
  describe('tenant isolation', () => {
    it('another account on the same stream: 404 on update and getActivities, the record unchanged', T, async () => {
      const { theCase, task } = await newPair(ctx, { desc: 'mine' });
      okDoc(await updateTask(ctx.client, task.doc._id, { tags: ['owner'] }));
      const before = await snapshot(ctx.client, TASK, task.doc._id);
      const caseBefore = await snapshot(ctx.client, CASE, theCase.doc._id);
      const other = await ctx.env.createApp({ streams: [stream] });
      const oc = ctx.server.client(other);
      for (const body of [{ desc: 'stolen' }, {}, before.doc, { accountId: other.account }]) {
        assertError(await updateTask(oc, task.doc._id, body), 404, 'not_found');
        assertError(await updateCase(oc, theCase.doc._id, body), 404, 'not_found');
      }
      assertError(await updateTask(oc, task.doc._id, { desc: 'stolen' }, { headers: { 'if-match': '*' } }), 404, 'not_found');
      assertError(await getActivities(oc, task.doc._id, {}), 404, 'not_found');
      assertError(await getActivities(oc, theCase.doc._id, {}), 404, 'not_found');
      assertError(await updateTask(oc, task.doc._id, { desc: 'stolen' }, { accountId: ctx.app.account }), 403, 'account_mismatch');
      await assertUnchanged(ctx.client, TASK, before, 'owner\'s task after another tenant');
      await assertUnchanged(ctx.client, CASE, caseBefore, 'owner\'s case after another tenant');
      assert.equal(await activityCount(ctx.client, task.doc._id), 1, 'no activity from the other tenant');
      // and the other tenant's own records live side by side
      const oCase = await newCase({ client: oc, cfg: ctx.cfg }, {}, oc, ctx.cfg);
      assertError(await updateCase(ctx.client, oCase.doc._id, { desc: 'x' }), 404, 'not_found');
    });

    it('same account, another stream: 404 through its own stream, 403 on a stream it is not associated with', T, async () => {
      const { task } = await newPair(ctx);
      const s2 = ids.stream();
      const sibling = await ctx.env.createApp({ account, streams: [s2] });
      const sc = ctx.server.client(sibling);
      assertError(await updateTask(sc, task.doc._id, { desc: 'moved?' }), 404, 'not_found');
      assertError(await getActivities(sc, task.doc._id, {}), 404, 'not_found');
      assertError(await updateTask(sc, task.doc._id, { desc: 'moved?' }, { stream }), 403);
      await assertUnchanged(ctx.client, TASK, task, 'after the sibling app');
    });

    it('another app of the same account and stream is the same tenant: it may update', T, async () => {
      const { task } = await newPair(ctx);
      const twin = await ctx.env.createApp({ account, streams: [stream], name: 'Twin bot' });
      const d = okDoc(await updateTask(ctx.server.client(twin), task.doc._id, { desc: 'by the twin' }));
      assert.equal(d.doc.desc, 'by the twin');
      assert.deepEqual(d.doc.updatedBy, { _id: twin.clientId, name: 'Twin bot', profImage: '' });
      assert.ok(isDeepEqual(d.doc.createdBy, task.doc.createdBy));
    });
  });

});
