// OWASP API Security Top 10 (2023), API3: broken object property-level authorisation (mass
// assignment). One row per attack, for updateTask and updateCase:
//  * every read-only member of API.md §7 with a different value (alone, and next to a genuine
//    change) → 400 read_only naming the member, and the record unchanged;
//  * every server-managed member with a forged value → ignored (the answer and the stored
//    record carry the server's value);
//  * nested and prototype-style injections.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, ids, T, H } from './lib/env.mjs';
import { assertError } from './lib/client.mjs';
import { update, okDoc, snapshot, assertUnchanged, newCase, newTask, statusOf, priorityOf, strip, TASK, CASE, KINDS } from './lib/update.mjs';
import { LeakWatch, assertNoInternals } from './lib/hostile.mjs';

const DAY = 86_400_000;
const RO = ['_id', 'iId', 'lid', 'accountId', 'orgId', 'refId', 'caseId', 'caseRefId', 'conversationType', 'createdAt', 'createdBy'];
/** Members that are not in a case document at all (a task's link to its case). */
const TASK_ONLY = ['caseId', 'caseRefId'];
const MANAGED = ['lname', 'updatedAt', 'timestampValue', 'updatedBy', 'activityIds', 'isBreached', 'ETA'];

describe('40 OWASP API3: property-level authorisation (read-only members refused, managed members ignored)', () => {
  const leaks = new LeakWatch();
  const ctx = {};
  let env, server;
  const rec = {}; // kind -> {doc, version} of the target
  const other = {}; // kind -> another record of the same tenant

  before(async () => {
    env = await Env.create();
    const S1 = ids.stream();
    const S2 = ids.stream();
    ctx.app = leaks.app(await env.createApp({ account: ids.account(), streams: [S1, S2], org: ids.org() }));
    ctx.cfg = await env.streamConfig(S1);
    server = await env.startServer();
    ctx.client = leaks.client(server.client(ctx.app, S1));
    ctx.S2 = S2;
    const c = await newCase(ctx, { dueDate: Date.now() + 3 * DAY });
    rec[CASE] = c;
    rec[TASK] = await newTask(ctx, c.doc, { dueDate: Date.now() + 3 * DAY });
    const c2 = await newCase(ctx);
    other[CASE] = c2;
    other[TASK] = await newTask(ctx, c2.doc);
  }, H);
  after(async () => { await env?.dispose(); }, H);

  /** A value for a read-only member that differs from the stored one and would be harmful. */
  function foreignValue(kind, m, doc) {
    switch (m) {
      case '_id': return other[kind].doc._id;
      case 'iId': case 'lid': return ctx.S2; // a stream the app also owns: a move between streams
      case 'accountId': return ids.account();
      case 'orgId': return ids.org();
      case 'refId': return other[kind].doc.refId;
      case 'caseId': return other[CASE].doc._id;
      case 'caseRefId': return other[CASE].doc.refId;
      case 'conversationType': return doc.conversationType === 'CASE' ? 'TASK' : 'CASE';
      case 'createdAt': return '2000-01-01T00:00:00.000Z';
      case 'createdBy': return { _id: 'u-mallory', name: 'Mallory' };
      default: throw new Error(m);
    }
  }

  function expectRefused(r, kind, m, what) {
    // a case has no caseId/caseRefId: unknown_member is as good a refusal as read_only there
    const reasons = kind === CASE && TASK_ONLY.includes(m) ? ['read_only', 'unknown_member'] : ['read_only'];
    assertError(r, 400, reasons, m);
    assertNoInternals(r, what);
  }

  for (const kind of KINDS) {
    const ep = kind === CASE ? 'updateCase' : 'updateTask';
    describe(`${ep}: read-only members`, () => {
      for (const m of RO) {
        it(`${ep} ${m} = a different value → 400 ${kind === CASE && TASK_ONLY.includes(m) ? 'read_only|unknown_member' : 'read_only'}, alone and beside a genuine change; record unchanged`, T, async () => {
          const before0 = await snapshot(ctx.client, kind, rec[kind].doc._id);
          const value = foreignValue(kind, m, before0.doc);
          expectRefused(await update(ctx.client, kind, rec[kind].doc._id, { [m]: value }), kind, m, `${ep} ${m} alone`);
          expectRefused(await update(ctx.client, kind, rec[kind].doc._id, { desc: 'must not be applied', [m]: value }), kind, m, `${ep} ${m} with desc`);
          expectRefused(await update(ctx.client, kind, rec[kind].doc._id, { [m]: value, name: 'must not be applied' }), kind, m, `${ep} ${m} before name`);
          await assertUnchanged(ctx.client, kind, before0, `${ep} ${m}`);
          await assertUnchanged(ctx.client, kind, await snapshot(ctx.client, kind, other[kind].doc._id), 'the other record');
        });
      }

      it(`${ep}: read-only members in other shapes (null, case and space variants, arrays, operator objects) → 400; record unchanged`, T, async () => {
        const before0 = await snapshot(ctx.client, kind, rec[kind].doc._id);
        const d = before0.doc;
        const members = RO.filter((m) => kind === TASK || !TASK_ONLY.includes(m));
        const bad = [];
        for (const m of members) {
          const stored = m === 'lid' ? d.iId : d[m];
          const variants = [null, [stored], { $ne: null }, { $gt: '' }];
          if (typeof stored === 'string') variants.push(`${stored} `, ` ${stored}`, stored.toUpperCase() === stored ? stored.toLowerCase() : stored.toUpperCase(), `${stored}\u0000`);
          if (stored && typeof stored === 'object') variants.push({ ...stored, _id: 'u-mallory' }, {});
          // createdAt with a lower-case t and z is the same instant (RFC 3339 §5.6): an echo, 200
          const sameInstant = m === 'createdAt' ? stored.toLowerCase() : undefined;
          for (const value of variants) {
            const r = await update(ctx.client, kind, d._id, { [m]: value });
            if (value === sameInstant) {
              assert.equal(r.status, 200, `${ep}: createdAt ${value}: ${r.text}`);
              continue;
            }
            if (r.status !== 400) bad.push(`${m} = ${JSON.stringify(value)} → ${r.status}`);
            else assertNoInternals(r, `${ep} ${m} = ${JSON.stringify(value)}`);
          }
        }
        assert.deepEqual(bad, [], `${ep}: read-only variants that were not refused`);
        await assertUnchanged(ctx.client, kind, before0, `${ep} read-only variants`);
      });

      it(`${ep}: control — the whole document echoed back (read-only members equal) with one change is accepted`, T, async () => {
        const before0 = await snapshot(ctx.client, kind, rec[kind].doc._id);
        const echo = strip(before0.doc, kind === CASE ? ['tasks'] : []);
        const { doc } = okDoc(await update(ctx.client, kind, echo._id, { ...echo, desc: `echoed ${Date.now()}` }), `${ep} echo`);
        for (const m of RO) if (m in before0.doc) assert.deepEqual(doc[m], before0.doc[m], `${m} moved on an echo`);
      });
    });

    describe(`${ep}: server-managed members are ignored`, () => {
      /** forged value, and a check that the server's value won */
      const FORGED = {
        lname: ['forged lname', (d) => assert.equal(d.lname, d.name.toLowerCase(), 'lname must follow name')],
        updatedAt: ['2000-01-01T00:00:00.000Z', (d, b) => assert.ok(d.updatedAt !== '2000-01-01T00:00:00.000Z' && d.updatedAt >= b.updatedAt, `updatedAt ${d.updatedAt}`)],
        timestampValue: [1, (d, b) => assert.ok(d.timestampValue !== 1 && d.timestampValue >= b.timestampValue, `timestampValue ${d.timestampValue}`)],
        updatedBy: [{ _id: 'u-forged', name: 'Forger' }, (d) => assert.notEqual(d.updatedBy?._id, 'u-forged', 'updatedBy taken from the body')],
        activityIds: [['ac-0000000-0000-4000-8000-000000000000'], (d) => assert.ok(!d.activityIds.includes('ac-0000000-0000-4000-8000-000000000000'), 'activityIds taken from the body')],
        isBreached: [true, (d) => assert.equal(d.isBreached, false, 'isBreached taken from the body (dueDate is in the future)')],
        ETA: ['1999-01-01T00:00:00.000Z', (d, b) => assert.equal(d.ETA, b.ETA, 'ETA taken from the body')],
      };
      for (const m of MANAGED) {
        it(`${ep} ${m} forged → ignored: beside a genuine change the server's value is stored; alone nothing changes`, T, async () => {
          const [value, check] = FORGED[m];
          const b = await snapshot(ctx.client, kind, rec[kind].doc._id);
          // alone: nothing to change, so nothing is written
          const alone = okDoc(await update(ctx.client, kind, b.doc._id, { [m]: value }), `${ep} ${m} alone`);
          assert.equal(alone.version, b.version, `${ep} ${m} alone: the version moved`);
          assert.deepEqual(strip(alone.doc, ['isBreached']), strip(b.doc, ['isBreached']), `${ep} ${m} alone: the document changed`);
          // beside a change
          const r = await update(ctx.client, kind, b.doc._id, { desc: `changed next to ${m} ${Date.now()}`, [m]: value });
          const { doc, version } = okDoc(r, `${ep} ${m} with desc`);
          assert.equal(version, b.version + 1, 'one write');
          check(doc, b.doc);
          assert.equal(doc.activityIds.length, b.doc.activityIds.length + 1, 'one activity appended by the server');
          // and stored so
          const stored = await snapshot(ctx.client, kind, b.doc._id);
          check(stored.doc, b.doc);
        });
      }

      it(`${ep}: every managed member forged at once, with a dueDate change: ETA, isBreached and the rest are the server's`, T, async () => {
        const b = await snapshot(ctx.client, kind, rec[kind].doc._id);
        const due = Date.now() + 5 * DAY;
        const body = { dueDate: due };
        for (const m of MANAGED) body[m] = FORGED[m][0];
        if (kind === CASE) body.tasks = [{ _id: 'ti-0000000-0000-4000-8000-000000000000', name: 'planted' }];
        const { doc } = okDoc(await update(ctx.client, kind, b.doc._id, body), `${ep} all managed`);
        assert.equal(doc.ETA, new Date(due).toISOString(), 'ETA follows the new dueDate');
        assert.equal(doc.isBreached, false);
        assert.equal(doc.lname, doc.name.toLowerCase());
        assert.notEqual(doc.updatedBy?._id, 'u-forged');
        assert.ok(!doc.activityIds.includes('ac-0000000-0000-4000-8000-000000000000'));
        if (kind === CASE) assert.ok(!JSON.stringify(doc.tasks ?? []).includes('planted'), 'tasks taken from the body');
      });
    });

    describe(`${ep}: nested and prototype-style injection`, () => {
      it(`${ep}: status with injected members (statusCategory, type, isActive) → the stream's own status object is stored`, T, async () => {
        const b = await snapshot(ctx.client, kind, rec[kind].doc._id);
        const want = statusOf(ctx.cfg, 'On-Hold');
        const { doc } = okDoc(await update(ctx.client, kind, b.doc._id, { status: { ...want, statusCategory: 'closed', type: 'custom', isActive: false, injected: 'x' } }), `${ep} status`);
        assert.deepEqual(doc.status, want, 'the stored status must be the stream\'s object');
        okDoc(await update(ctx.client, kind, b.doc._id, { status: { name: 'Open' } }), 'reset status');
      });

      it(`${ep}: priority with an injected score and color → the stream's own priority object is stored`, T, async () => {
        const b = await snapshot(ctx.client, kind, rec[kind].doc._id);
        const want = priorityOf(ctx.cfg, 'Low');
        const { doc } = okDoc(await update(ctx.client, kind, b.doc._id, { priority: { ...want, score: 99, color: '#000000', injected: 'x' } }), `${ep} priority`);
        assert.deepEqual(doc.priority, want, 'the stored priority must be the stream\'s object');
      });

      it(`${ep}: "__proto__", "constructor" and "prototype" members → 400 unknown_member; record unchanged`, T, async () => {
        const b = await snapshot(ctx.client, kind, rec[kind].doc._id);
        for (const key of ['__proto__', 'constructor', 'prototype']) {
          const r = await update(ctx.client, kind, b.doc._id, `{"${key}": {"accountId": "${ids.account()}", "isAdmin": true}, "desc": "x"}`);
          assertError(r, 400, 'unknown_member', key);
        }
        await assertUnchanged(ctx.client, kind, b, `${ep} prototype keys`);
      });

      it(`${ep}: a read-only member hidden behind a duplicate key ("desc", then "accountId" twice) → 400; record unchanged`, T, async () => {
        const b = await snapshot(ctx.client, kind, rec[kind].doc._id);
        const r = await update(ctx.client, kind, b.doc._id, `{"accountId": "${b.doc.accountId}", "accountId": "${ids.account()}", "desc": "dup"}`);
        assertError(r, 400);
        await assertUnchanged(ctx.client, kind, b, `${ep} duplicate accountId`);
      });
    });
  }

  it('the server output (access log, stderr) carries no token or clientSecret of this file', T, () => {
    leaks.assertClean([server]);
  });
});
