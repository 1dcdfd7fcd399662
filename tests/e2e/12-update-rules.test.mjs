// updateTask/updateCase (API.md §7): null clears, read-only echo vs change, managed members,
// status/priority resolution, templates, fields, currAssignee ↔ assigneeType,
// dueDate/ETA/isBreached.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, ids, T, sleep } from './lib/env.mjs';
import {
  KINDS, TASK, CASE, MANAGED, membersOf, update, updateTask, updateCase, okDoc, snapshot, assertUnchanged,
  assertRefused, newRecord, newPair, newCase, newTask, fieldOf, statusOf, priorityOf, changedMembers, strip,
  getActivities, ISO_MS, AC_ID,
} from './lib/update.mjs';

const DAY = 86_400_000;
const STATUS_NAMES = ['Open', 'In-Progress', 'On-Hold', 'Resolved', 'Closed'];
const PRIORITY_NAMES = ['Low', 'Medium', 'High', 'Critical'];

/** A non-empty value to set first, so that clearing it is visible. */
const FILLED = {
  string: 'filled',
  array: ['filled'],
  object: { _id: 'u-filled', name: 'Filled' },
  boolean: true,
};
const CLEARED = { string: '', array: [], object: {}, boolean: false };

async function setUp(ctx, kind) {
  const sub = `u-${ids.user().slice(2)}`;
  return { rec: await newRecord(ctx, kind), sub };
}

describe('12 update rules', () => {
  const ctx = useServer({
    app: { org: ids.org(), name: 'Rules bot' },
    beforeStart: async (c) => {
      const st = c.app.streams[0];
      const run = (args) => c.env.cliJson([...args]);
      await run(['template', 'add', '--stream', st, '--kind', 'task', '--name', 'Incident',
        '--field', 'sev:number:required', '--field', 'when:datetime', '--field', 'ok:checkbox', '--field', 'note:input']);
      await run(['template', 'add', '--stream', st, '--kind', 'case', '--name', 'Claim', '--field', 'amount:number']);
      await run(['template', 'add', '--stream', st, '--kind', 'task', '--name', 'Log', '--field', 'when:input']);
      await run(['status', 'add', '--stream', st, '--name', 'Waiting on Customer', '--category', 'inProgress']);
      await run(['status', 'add', '--stream', st, '--name', 'Parked', '--category', 'open', '--inactive']);
      await run(['priority', 'add', '--stream', st, '--name', 'Someday', '--score', '2', '--inactive']);
      await run(['priority', 'add', '--stream', st, '--name', 'Urgent Now', '--score', '14']);
      c.env.forget(st);
    },
  });

  // ------------------------------------------------------------------ null
  describe('null clears (JSON Merge Patch)', () => {
    for (const kind of KINDS) {
      for (const m of membersOf(kind, 'rw')) {
        if (['name', 'status', 'priority', 'caseTmp', 'taskTmp', 'fields', 'dueDate'].includes(m.name)) continue;
        it(`${kind} ${m.name}: null → ${JSON.stringify(CLEARED[m.type])}`, T, async () => {
          const { rec } = await setUp(ctx, kind);
          const filled = okDoc(await update(ctx.client, kind, rec.doc._id, { [m.name]: FILLED[m.type] }), `fill ${m.name}`);
          assert.deepEqual(filled.doc[m.name], FILLED[m.type]);
          const r = await update(ctx.client, kind, rec.doc._id, { [m.name]: null });
          const { doc, version } = okDoc(r, `${m.name}: null`);
          assert.deepEqual(doc[m.name], CLEARED[m.type], `${m.name} cleared`);
          assert.equal(version, filled.version + 1);
          if (m.name === 'currAssignee') assert.equal(doc.assigneeType, 'unassigned');
          const mirrors = m.name === 'desc' ? ['fields'] : m.name === 'currAssignee' ? ['assigneeType'] : [];
          const moved = changedMembers(filled.doc, doc).filter((k) => ![m.name, ...mirrors, ...MANAGED(kind)].includes(k));
          assert.deepEqual(moved, [], 'nothing else changes');
          const again = await update(ctx.client, kind, rec.doc._id, { [m.name]: null });
          assert.equal(okDoc(again).version, version, 'clearing a cleared member changes nothing');
        });
      }

      it(`${kind} dueDate: null → absent, ETA "", Due Date field ""`, T, async () => {
        const { rec } = await setUp(ctx, kind);
        const due = Date.now() + 3 * DAY;
        okDoc(await update(ctx.client, kind, rec.doc._id, { dueDate: due }));
        const { doc } = okDoc(await update(ctx.client, kind, rec.doc._id, { dueDate: null }));
        assert.ok(!('dueDate' in doc), `dueDate must be absent: ${doc.dueDate}`);
        assert.equal(doc.ETA, '');
        assert.equal(fieldOf(doc, 'dueDate').selectedValue, '');
        assert.equal(doc.isBreached, false);
      });

      it(`${kind} name: null and "" → 400 invalid_value field name; status, priority, ${kind === TASK ? 'caseTmp, taskTmp' : 'caseTmp'}: null → 400 invalid_value`, T, async () => {
        const { rec } = await setUp(ctx, kind);
        assertRefused(await update(ctx.client, kind, rec.doc._id, { name: null }), 'invalid_value', 'name');
        assertRefused(await update(ctx.client, kind, rec.doc._id, { name: '' }), 'invalid_value', 'name');
        const fixed = ['status', 'priority', 'caseTmp', ...(kind === TASK ? ['taskTmp'] : [])];
        for (const n of fixed) assertRefused(await update(ctx.client, kind, rec.doc._id, { desc: 'not applied', [n]: null }), 'invalid_value', n);
        await assertUnchanged(ctx.client, kind, rec, 'after refused clears');
      });

      it(`${kind} fields: null is not silently ignored (it clears, or is refused naming fields)`, T, async () => {
        const { rec } = await setUp(ctx, kind);
        const r = await update(ctx.client, kind, rec.doc._id, { fields: null });
        if (r.status === 200) {
          assert.deepEqual(r.json.fields, [], `fields: null answered 200, so fields must be cleared to [] — got a no-op: ${JSON.stringify(r.json.fields).slice(0, 200)}`);
        } else {
          assertRefused(r, 'invalid_value', 'fields');
        }
      });
    }
  });

  // ------------------------------------------------------------------ read-only
  describe('read-only members', () => {
    const DIFFERENT = {
      _id: (d) => (d._id.startsWith('ti-') ? 'ti-0123456-89ab-4cde-8f01-23456789abcd' : 'ci-0123456-89ab-4cde-8f01-23456789abcd'),
      caseId: () => 'ci-0123456-89ab-4cde-8f01-23456789abcd',
      caseRefId: () => 'CS999999',
      accountId: () => ids.account(),
      iId: () => ids.stream(),
      lid: () => ids.stream(),
      orgId: () => ids.org(),
      refId: (d) => (d.refId.startsWith('TS') ? 'TS999999' : 'CS999999'),
      conversationType: (d) => (d.conversationType === 'TASK' ? 'CASE' : 'TASK'),
      createdAt: () => '2001-02-03T04:05:06.007Z',
      createdBy: (d) => ({ ...d.createdBy, _id: 'u-someone-else' }),
    };
    for (const kind of KINDS) {
      for (const m of membersOf(kind, 'ro')) {
        it(`${kind} ${m.name}: the stored value is accepted and ignored; another value → 400 read_only field ${m.name}`, T, async () => {
          const { rec } = await setUp(ctx, kind);
          const stored = rec.doc[m.storedAs ?? m.name];
          assert.ok(stored !== undefined, `the document has ${m.storedAs ?? m.name}`);
          const echo = okDoc(await update(ctx.client, kind, rec.doc._id, { [m.name]: stored }), `${m.name} echoed`);
          assert.equal(echo.version, rec.version, 'an echo changes nothing');
          assert.equal(echo.doc.activityIds.length, 0, 'an echo writes no activity');
          const withChange = okDoc(await update(ctx.client, kind, rec.doc._id, { [m.name]: stored, desc: `changed next to ${m.name}` }));
          assert.equal(withChange.doc.desc, `changed next to ${m.name}`);
          assert.deepEqual(withChange.doc[m.storedAs ?? m.name], stored);
          const other = DIFFERENT[m.name](rec.doc);
          assertRefused(await update(ctx.client, kind, rec.doc._id, { [m.name]: other }), 'read_only', m.name);
          assertRefused(await update(ctx.client, kind, rec.doc._id, { desc: 'not applied', [m.name]: other }), 'read_only', m.name);
          await assertUnchanged(ctx.client, kind, withChange, `after a different ${m.name}`);
        });
      }

      it(`${kind}: echoing the whole document back → 200, nothing changes (no activity, same ETag, same timestampValue)`, T, async () => {
        let rec = await newRecord(ctx, kind);
        if (kind === CASE) await newTask(ctx, rec.doc);
        // give the record some history first
        rec = okDoc(await update(ctx.client, kind, rec.doc._id, {
          desc: 'history', tags: ['x'], status: { name: 'In-Progress' }, priority: { name: 'High' },
          currAssignee: { _id: 'u-a', name: 'A' }, dueDate: Date.now() + DAY,
        }));
        rec = okDoc(await update(ctx.client, kind, rec.doc._id, { name: 'Echo Me' }));
        const before = await snapshot(ctx.client, kind, rec.doc._id);
        const r = await update(ctx.client, kind, rec.doc._id, before.doc);
        const echo = okDoc(r, 'whole-document echo');
        assert.equal(echo.version, before.version, 'same ETag');
        assert.deepEqual(echo.doc, before.doc, 'the same document');
        assert.equal(echo.doc.timestampValue, before.doc.timestampValue);
        assert.equal(echo.doc.updatedAt, before.doc.updatedAt);
        const acts = await getActivities(ctx.client, rec.doc._id, {});
        assert.equal(acts.json.totalResults, before.doc.activityIds.length, 'no activity written');
      });

      it(`${kind}: echoing the whole document with one member changed applies just that member`, T, async () => {
        const rec = await newRecord(ctx, kind);
        const body = { ...rec.doc, desc: 'edited in the echo' };
        const { doc, version } = okDoc(await update(ctx.client, kind, rec.doc._id, body));
        assert.equal(version, rec.version + 1);
        assert.equal(doc.desc, 'edited in the echo');
        const moved = changedMembers(rec.doc, doc).filter((k) => !['desc', 'fields', ...MANAGED(kind)].includes(k));
        assert.deepEqual(moved, []);
      });
    }
  });

  // ------------------------------------------------------------------ managed
  describe('server-managed members', () => {
    const FORGED = {
      lname: 'forged lname',
      updatedAt: '2000-01-01T00:00:00.000Z',
      timestampValue: 946684800000,
      updatedBy: { _id: 'u-forger', name: 'Forger', profImage: 'x.png' },
      activityIds: ['ac-0000000-0000-4000-8000-000000000000'],
      isBreached: true,
      ETA: '2000-01-01T00:00:00.000Z',
      tasks: [{ _id: 'ti-forged' }],
    };
    for (const kind of KINDS) {
      it(`${kind}: client values of managed members alone are ignored (200, nothing changes)`, T, async () => {
        const rec = await newRecord(ctx, kind);
        for (const name of MANAGED(kind)) {
          const r = await update(ctx.client, kind, rec.doc._id, { [name]: FORGED[name] });
          const { doc, version } = okDoc(r, `managed ${name}`);
          assert.equal(version, rec.version, `${name}: nothing stored`);
          assert.deepEqual(doc[name], rec.doc[name], `${name}: the client value is ignored`);
        }
        await assertUnchanged(ctx.client, kind, rec, 'after managed values');
      });

      it(`${kind}: with a real change, managed members are recomputed (lname, updatedAt, timestampValue, updatedBy = JWT sub, activityIds, ETA, isBreached)`, T, async () => {
        const rec = await newRecord(ctx, kind);
        const sub = ids.user();
        const t0 = Date.now();
        const forged = Object.fromEntries(MANAGED(kind).map((n) => [n, FORGED[n]]));
        const r = await update(ctx.client, kind, rec.doc._id, { name: 'Recomputed NAME', ...forged }, { claims: { sub } });
        const { doc } = okDoc(r);
        assert.equal(doc.lname, 'recomputed name');
        assert.match(doc.updatedAt, ISO_MS);
        assert.ok(Math.abs(Date.parse(doc.updatedAt) - t0) < 5000, `updatedAt is now: ${doc.updatedAt}`);
        assert.equal(doc.timestampValue, Date.parse(doc.updatedAt));
        assert.equal(doc.updatedBy._id, sub, 'updatedBy is the JWT sub');
        assert.equal(typeof doc.updatedBy.name, 'string');
        assert.equal(typeof doc.updatedBy.profImage, 'string');
        assert.deepEqual(doc.createdBy, rec.doc.createdBy, 'createdBy stays the creator');
        assert.equal(doc.activityIds.length, rec.doc.activityIds.length + 1);
        assert.ok(!doc.activityIds.includes(FORGED.activityIds[0]), 'forged activity id not stored');
        assert.match(doc.activityIds.at(-1), AC_ID);
        assert.equal(doc.ETA, rec.doc.ETA, 'ETA follows dueDate, not the client');
        assert.equal(doc.isBreached, false);
        if (kind === CASE) assert.deepEqual(doc.tasks, rec.doc.tasks, 'tasks is not the client\'s');
        // without a sub: the app
        const r2 = okDoc(await update(ctx.client, kind, rec.doc._id, { desc: 'by the app' }));
        assert.deepEqual(r2.doc.updatedBy, { _id: ctx.app.clientId, name: ctx.app.name, profImage: '' });
      });
    }

    it('lname lower-cases the whole name, non-ASCII letters included', T, async () => {
      const rec = await newRecord(ctx, TASK);
      const { doc } = okDoc(await updateTask(ctx.client, rec.doc._id, { name: 'ÉCOLE Straße ÅB Ωmega' }));
      assert.equal(doc.lname, 'ÉCOLE Straße ÅB Ωmega'.toLowerCase());
    });
  });

  // ------------------------------------------------------------------ status / priority
  describe('status and priority', () => {
    for (const kind of KINDS) {
      it(`${kind} status by name: exact, any case, ' ' '-' '_' alike; stored as the stream's full object`, T, async () => {
        const rec = await newRecord(ctx, kind);
        const cases = [['In-Progress', 'In-Progress'], ['in progress', 'In-Progress'], ['IN_PROGRESS', 'In-Progress'], ['on hold', 'On-Hold'],
          ['oN-hOLD', 'On-Hold'], ['resolved', 'Resolved'], ['waiting-on-customer', 'Waiting on Customer'], ['Waiting_On_Customer', 'Waiting on Customer'], ['OPEN', 'Open']];
        for (const [given, want] of cases) {
          const { doc } = okDoc(await update(ctx.client, kind, rec.doc._id, { status: { name: given, color: 'ignored', extra: 1 } }), `status ${given}`);
          assert.deepEqual(doc.status, statusOf(ctx.cfg, want), `status "${given}" → ${want}`);
        }
      });

      it(`${kind} status/priority by own _id (name ignored), by foreign _id + known name; unknown → 400 listing the valid names`, T, async () => {
        const rec = await newRecord(ctx, kind);
        const high = priorityOf(ctx.cfg, 'High');
        const resolved = statusOf(ctx.cfg, 'Resolved');
        let d = okDoc(await update(ctx.client, kind, rec.doc._id, { status: { _id: resolved._id } })).doc;
        assert.deepEqual(d.status, resolved, 'status by _id alone');
        d = okDoc(await update(ctx.client, kind, rec.doc._id, { status: { _id: statusOf(ctx.cfg, 'On-Hold')._id, name: 'Open' } })).doc;
        assert.deepEqual(d.status, statusOf(ctx.cfg, 'On-Hold'), 'own _id wins over name');
        d = okDoc(await update(ctx.client, kind, rec.doc._id, { status: { _id: 'sts-0000000-0000-4000-8000-000000000000', name: 'open' } })).doc;
        assert.deepEqual(d.status, statusOf(ctx.cfg, 'Open'), 'foreign _id + known name → by name');
        d = okDoc(await update(ctx.client, kind, rec.doc._id, { priority: { _id: high._id } })).doc;
        assert.deepEqual(d.priority, high, 'priority by _id');
        d = okDoc(await update(ctx.client, kind, rec.doc._id, { priority: { _id: high._id, name: 'Low' } })).doc;
        assert.deepEqual(d.priority, high, 'own _id wins');
        d = okDoc(await update(ctx.client, kind, rec.doc._id, { priority: { _id: 'pr-foreign', name: 'CRITICAL', score: 1, color: '#000000' } })).doc;
        assert.deepEqual(d.priority, priorityOf(ctx.cfg, 'Critical'), 'foreign _id + name; client score/color ignored');
        d = okDoc(await update(ctx.client, kind, rec.doc._id, { priority: { name: 'urgent_now' } })).doc;
        assert.deepEqual(d.priority, priorityOf(ctx.cfg, 'Urgent Now'));
        const before = await snapshot(ctx.client, kind, rec.doc._id);
        for (const bad of [{ name: 'Nonexistent' }, { _id: 'sts-0000000-0000-4000-8000-000000000000' }, {}, { name: '' }, { name: 5 }]) {
          const e = assertRefused(await update(ctx.client, kind, rec.doc._id, { status: bad }), 'invalid_value', 'status');
          for (const n of STATUS_NAMES) assert.ok(e.msg.includes(n), `the message lists ${n}: ${e.msg}`);
        }
        for (const bad of [{ name: 'Whenever' }, { _id: 'pr-nope' }, {}]) {
          const e = assertRefused(await update(ctx.client, kind, rec.doc._id, { priority: bad }), 'invalid_value', 'priority');
          for (const n of PRIORITY_NAMES) assert.ok(e.msg.includes(n), `the message lists ${n}: ${e.msg}`);
        }
        await assertUnchanged(ctx.client, kind, before, 'after unknown status/priority');
      });

      it(`${kind}: an inactive status or priority cannot be chosen (400 invalid_value), by name or _id`, T, async () => {
        const rec = await newRecord(ctx, kind);
        const parked = statusOf(ctx.cfg, 'Parked');
        const someday = priorityOf(ctx.cfg, 'Someday');
        assertRefused(await update(ctx.client, kind, rec.doc._id, { status: { name: 'Parked' } }), 'invalid_value', 'status');
        assertRefused(await update(ctx.client, kind, rec.doc._id, { status: { _id: parked._id } }), 'invalid_value', 'status');
        assertRefused(await update(ctx.client, kind, rec.doc._id, { priority: { name: 'someday' } }), 'invalid_value', 'priority');
        assertRefused(await update(ctx.client, kind, rec.doc._id, { priority: { _id: someday._id } }), 'invalid_value', 'priority');
        await assertUnchanged(ctx.client, kind, rec, 'after inactive choices');
      });
    }
  });

  // ------------------------------------------------------------------ templates
  describe('templates', () => {
    it('task: caseTmp and taskTmp must name an existing task template (400 invalid_value naming the member)', T, async () => {
      const { theCase, task } = await newPair(ctx);
      const incident = ctx.cfg.taskTemplates.find((t) => t.name === 'Incident');
      assertRefused(await updateTask(ctx.client, task.doc._id, { caseTmp: 'ttm-nope' }), 'invalid_value', 'caseTmp');
      assertRefused(await updateTask(ctx.client, task.doc._id, { taskTmp: 'ttm-nope' }), 'invalid_value', 'taskTmp');
      assertRefused(await updateTask(ctx.client, task.doc._id, { caseTmp: theCase.doc.caseTmp }), 'invalid_value', 'caseTmp');
      assertRefused(await updateTask(ctx.client, task.doc._id, { caseTmp: '' }), 'invalid_value', 'caseTmp');
      await assertUnchanged(ctx.client, TASK, task, 'after bad templates');
      // Incident's sev is required: the record takes its fields, so it needs a value
      assertRefused(await updateTask(ctx.client, task.doc._id, { caseTmp: incident._id }), 'missing_member', 'fields');
      await assertUnchanged(ctx.client, TASK, task, 'after a template whose required field has no value');
      const { doc } = okDoc(await updateTask(ctx.client, task.doc._id, { caseTmp: incident._id, fields: [{ metaData: { name: 'sev' }, selectedValue: 3 }] }));
      assert.equal(doc.taskTmp, incident._id);
      const again = okDoc(await updateTask(ctx.client, task.doc._id, { caseTmp: incident._id }));
      assert.equal(again.doc.activityIds.length, doc.activityIds.length, 'the same template again changes nothing');
    });

    it('a record moved to another template takes its fields; same-named values stay', T, async () => {
      // it kept the old template's fields: the new one's required field was missing and its
      // fields could not be set
      const incident = ctx.cfg.taskTemplates.find((t) => t.name === 'Incident');
      const plain = ctx.cfg.taskTemplates.find((t) => t.name !== 'Incident');
      const { task } = await newPair(ctx);
      const id = task.doc._id;
      okDoc(await updateTask(ctx.client, id, { desc: 'kept across templates', name: 'Moved task' }));
      // the fields member of the same body names the new template's fields, whatever its place
      const moved = okDoc(await updateTask(ctx.client, id, {
        fields: [{ metaData: { name: 'sev' }, selectedValue: 4 }, { metaData: { name: 'note' }, selectedValue: 'n1' }],
        taskTmp: incident._id,
      })).doc;
      const names = (d) => d.fields.map((f) => f.metaData?.name);
      assert.deepEqual(names(moved), incident.fields.map((f) => f.metaData?.name));
      assert.equal(fieldOf(moved, 'sev').selectedValue, 4);
      assert.equal(fieldOf(moved, 'note').selectedValue, 'n1');
      assert.equal(fieldOf(moved, 'description').selectedValue, 'kept across templates');
      assert.equal(fieldOf(moved, 'title').selectedValue, 'Moved task');
      assert.equal(fieldOf(moved, 'when').selectedValue, '');
      assert.equal(fieldOf(moved, 'ok').selectedValue, null);
      // its fields can now be set, and filtered on
      const set = okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'when' }, selectedValue: '2031-02-03T04:05:06Z' }] })).doc;
      assert.equal(fieldOf(set, 'when').selectedValue, '2031-02-03T04:05:06.000Z');
      const found = await ctx.client.post('getTasks', { customFields: [{ name: 'sev', value: 4 }] });
      assert.ok(found.json.results.some((d) => d._id === id), 'found by the new template\'s field');
      // and back, as a whole document echoed with only taskTmp changed (its fields are
      // Incident's: they were applied to the new template's and refused, 400 "names no field"):
      // Incident's own fields go, the system fields keep their values
      const back = okDoc(await updateTask(ctx.client, id, { ...set, taskTmp: plain._id })).doc;
      assert.deepEqual(names(back), plain.fields.map((f) => f.metaData?.name));
      assert.equal(fieldOf(back, 'description').selectedValue, 'kept across templates');
      assert.equal(back.desc, 'kept across templates');
      const acts = await getActivities(ctx.client, id);
      assert.ok(acts.json.results.some((a) => a.changes.some((c) => c.field === 'fields')), 'the fields change is in the activity');
    });

    it('case: caseTmp must name an existing case template', T, async () => {
      const c = await newCase(ctx);
      const claim = ctx.cfg.caseTemplates.find((t) => t.name === 'Claim');
      assertRefused(await updateCase(ctx.client, c.doc._id, { caseTmp: 'ctm-nope' }), 'invalid_value', 'caseTmp');
      assertRefused(await updateCase(ctx.client, c.doc._id, { caseTmp: ctx.cfg.taskTemplates[0]._id }), 'invalid_value', 'caseTmp');
      await assertUnchanged(ctx.client, CASE, c, 'after bad caseTmp');
      assert.equal(okDoc(await updateCase(ctx.client, c.doc._id, { caseTmp: claim._id })).doc.caseTmp, claim._id);
    });
  });

  // ------------------------------------------------------------------ fields
  describe('fields', () => {
    const incident = () => ctx.cfg.taskTemplates.find((t) => t.name === 'Incident');
    const incidentTask = async () => {
      const c = await newCase(ctx);
      return newTask(ctx, c.doc, { taskTmp: incident()._id, fields: [{ metaData: { name: 'sev' }, selectedValue: 2 }] });
    };

    it('set by _id, by metaData.name and by name; Description ↔ desc', T, async () => {
      const { task } = await newPair(ctx);
      const id = task.doc._id;
      const f = fieldOf(task.doc, 'description');
      let d = okDoc(await updateTask(ctx.client, id, { fields: [{ _id: f._id, selectedValue: 'by id' }] })).doc;
      assert.equal(fieldOf(d, 'description').selectedValue, 'by id');
      assert.equal(d.desc, 'by id');
      d = okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'description' }, selectedValue: 'by metaData.name' }] })).doc;
      assert.equal(d.desc, 'by metaData.name');
      d = okDoc(await updateTask(ctx.client, id, { fields: [{ name: 'description', selectedValue: 'by name' }] })).doc;
      assert.equal(d.desc, 'by name');
      d = okDoc(await updateTask(ctx.client, id, { desc: 'by desc' })).doc;
      assert.equal(fieldOf(d, 'description').selectedValue, 'by desc');
      // the fields' definitions are untouched, only selectedValue moves
      assert.deepEqual(d.fields.map((x) => strip(x, ['selectedValue'])), task.doc.fields.map((x) => strip(x, ['selectedValue'])));
    });

    it('Title ↔ name (and lname); name in the same body wins', T, async () => {
      const { task } = await newPair(ctx);
      const id = task.doc._id;
      let d = okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'title' }, selectedValue: 'Title Moves Name' }] })).doc;
      assert.equal(d.name, 'Title Moves Name');
      assert.equal(d.lname, 'title moves name');
      d = okDoc(await updateTask(ctx.client, id, { name: 'Name Wins', fields: [{ metaData: { name: 'title' }, selectedValue: 'Title Loses' }] })).doc;
      assert.equal(d.name, 'Name Wins');
      assert.equal(fieldOf(d, 'title').selectedValue, 'Name Wins');
    });

    it('Due Date ↔ dueDate; datetime values stored normalised (YYYY-MM-DDTHH:MM:SS.mmmZ)', T, async () => {
      const { task } = await newPair(ctx);
      const id = task.doc._id;
      let d = okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'dueDate' }, selectedValue: '2031-01-02T03:04:05Z' }] })).doc;
      assert.equal(fieldOf(d, 'dueDate').selectedValue, '2031-01-02T03:04:05.000Z');
      assert.equal(d.dueDate, Date.parse('2031-01-02T03:04:05Z'));
      assert.equal(d.ETA, '2031-01-02T03:04:05.000Z');
      d = okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'dueDate' }, selectedValue: '2031-01-02T05:04:05.25+02:00' }] })).doc;
      assert.equal(fieldOf(d, 'dueDate').selectedValue, '2031-01-02T03:04:05.250Z');
      assert.equal(d.dueDate, Date.parse('2031-01-02T03:04:05.250Z'));
      d = okDoc(await updateTask(ctx.client, id, { dueDate: Date.parse('2032-03-04T05:06:07.008Z') })).doc;
      assert.equal(fieldOf(d, 'dueDate').selectedValue, '2032-03-04T05:06:07.008Z');
      d = okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'dueDate' }, selectedValue: '' }] })).doc;
      assert.ok(!('dueDate' in d), 'emptying a task\'s (optional) Due Date removes dueDate');
      assert.equal(d.ETA, '');
    });

    it('custom fields: number, checkbox, datetime, input checked against their dataType', T, async () => {
      const t = await incidentTask();
      const id = t.doc._id;
      let d = okDoc(await updateTask(ctx.client, id, { fields: [
        { metaData: { name: 'sev' }, selectedValue: 4 },
        { metaData: { name: 'ok' }, selectedValue: true },
        { metaData: { name: 'when' }, selectedValue: '2030-05-06T07:08:09.5Z' },
        { metaData: { name: 'note' }, selectedValue: 'free text' },
      ] })).doc;
      assert.equal(fieldOf(d, 'sev').selectedValue, 4);
      assert.equal(fieldOf(d, 'ok').selectedValue, true);
      assert.equal(fieldOf(d, 'when').selectedValue, '2030-05-06T07:08:09.500Z');
      assert.equal(fieldOf(d, 'note').selectedValue, 'free text');
      assert.equal(fieldOf(d, 'note').dataType, 'input', 'an input field\'s dataType, as the vendor\'s');
      const before = await snapshot(ctx.client, TASK, id);
      const bad = [
        ['when', 'not a date'], ['when', '2030-02-30T00:00:00Z'], ['when', '2030-01-01T25:00:00Z'], ['when', true], ['when', { at: 1 }],
        ['when', '2030-01-01T12:00:60Z'], // second 60 outside 23:59 UTC was taken for 12:01:00
        ['sev', 'four'], ['sev', true], ['ok', 'yes'], ['ok', 1], ['note', 5],
      ];
      for (const [name, v] of bad) {
        const r = await updateTask(ctx.client, id, { desc: 'not applied', fields: [{ metaData: { name }, selectedValue: v }] });
        assertRefused(r, ['invalid_value', 'invalid_type'], 'fields');
      }
      assertRefused(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'dueDate' }, selectedValue: 'next tuesday' }] }), 'invalid_value', 'fields');
      // an input field's dataType is "input" (as the vendor's), its values strings
      const r = await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'note' }, selectedValue: 5 }] });
      assert.match(r.json.errors[0].msg, /^field \S+ needs a string value$/, JSON.stringify(r.json));
      await assertUnchanged(ctx.client, TASK, before, 'after bad field values');
    });

    it('an element without selectedValue changes nothing; a misspelt member is 400 naming it', T, async () => {
      // both had cleared the stored value (and a required field's element was refused as emptied)
      const t = await incidentTask();
      const id = t.doc._id;
      okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'note' }, selectedValue: 'kept' }] }));
      const before = await snapshot(ctx.client, TASK, id);
      const defs = before.doc.fields.map(({ selectedValue, ...def }) => def);
      const same = okDoc(await updateTask(ctx.client, id, { fields: defs }), 'definitions without values');
      assert.equal(same.version, before.version, 'no new version');
      assert.equal(fieldOf(same.doc, 'note').selectedValue, 'kept');
      assert.equal(fieldOf(same.doc, 'sev').selectedValue, 2);
      assert.equal(fieldOf(same.doc, 'title').selectedValue, before.doc.name);
      for (const typo of ['selectedvalue', 'value']) {
        const r = await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'note' }, [typo]: 'lost' }] });
        assertRefused(r, 'unknown_member', 'fields');
        assert.match(r.json.errors[0].msg, new RegExp(`unknown member ${typo}`), JSON.stringify(r.json));
      }
      await assertUnchanged(ctx.client, TASK, before, 'after elements without a value');
    });

    it('a datetime field takes any date-time of years 0000-9999, and a filter finds it as the client wrote it', T, async () => {
      // before 1970 was refused ("needs an ISO-8601 date-time"), and a filter matched only the
      // server's own spelling of the stored instant
      const t = await incidentTask();
      const id = t.doc._id;
      for (const [v, stored] of [['1965-03-01', '1965-03-01T00:00:00.000Z'], ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
        [-1, '1969-12-31T23:59:59.999Z'], ['2030-05-06T09:08:09.5+02:00', '2030-05-06T07:08:09.500Z']]) {
        const d = okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'when' }, selectedValue: v }] }), String(v)).doc;
        assert.equal(fieldOf(d, 'when').selectedValue, stored);
      }
      const r = await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'dueDate' }, selectedValue: '1965-03-01' }] });
      assertRefused(r, 'invalid_value', 'fields');
      assert.match(r.json.errors[0].msg, /from 1970 to 9999/);
      const found = async (value) => {
        const page = await ctx.client.post('getTasks', { customFields: [{ name: 'when', value }], limit: 500 });
        assert.equal(page.status, 200, JSON.stringify(page.json));
        return page.json.results.some((x) => x._id === id);
      };
      for (const v of ['2030-05-06T07:08:09.5Z', '2030-05-06T09:08:09.500+02:00', '2030-05-06T07:08:09.500Z', Date.parse('2030-05-06T07:08:09.500Z')]) {
        assert.ok(await found(v), `customFields when = ${JSON.stringify(v)}`);
      }
      for (const v of ['2030-05-06T07:08:09.501Z', '2030-05-06', 'soon']) assert.ok(!(await found(v)), `not ${v}`);
      // a text field of the same name in another template still matches the value as written
      const log = ctx.cfg.taskTemplates.find((x) => x.name === 'Log');
      const c = await newCase(ctx);
      const text = (await newTask(ctx, c.doc, { taskTmp: log._id, fields: [{ metaData: { name: 'when' }, selectedValue: '2030-05-06T07:08:09.5Z' }] })).doc;
      assert.equal(fieldOf(text, 'when').selectedValue, '2030-05-06T07:08:09.5Z', 'a text field keeps the text');
      const page = await ctx.client.post('getTasks', { customFields: [{ name: 'when', value: '2030-05-06T07:08:09.5Z' }], limit: 500 });
      const hits = page.json.results.map((x) => x._id);
      assert.ok(hits.includes(id) && hits.includes(text._id), `both the datetime and the text field: ${JSON.stringify(hits)}`);
    });

    it('a number with a fraction is written in the fewest digits that read back as it (19.99), and the number and its text match in customFields', T, async () => {
      // 19.99 was stored and answered as 19.989999999999998 (jansson's 17 digits): the text
      // "19.99" found no number field holding 19.99, nor the number 19.99 a text field "19.99"
      const t = await incidentTask();
      const id = t.doc._id;
      const res = await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'sev' }, selectedValue: 19.99 }, { metaData: { name: 'note' }, selectedValue: '0.3' }] });
      okDoc(res);
      assert.match(res.text, /"selectedValue":19\.99[,}]/, 'the answer writes 19.99');
      const acts = (await ctx.client.post(`getActivities/${id}`, { limit: 1 })).text;
      assert.match(acts, /"selectedValue":19\.99[,}]/, "so does the activity");
      const found = async (name, value) => {
        const page = await ctx.client.post('getTasks', { customFields: [{ name, value }], limit: 500 });
        assert.equal(page.status, 200, JSON.stringify(page.json));
        return page.json.results.some((x) => x._id === id);
      };
      for (const v of [19.99, '19.99', [1, 19.99]]) assert.ok(await found('sev', v), `sev = ${JSON.stringify(v)}`);
      for (const v of [19.9, '19.990', '19.989999999999998']) assert.ok(!(await found('sev', v)), `sev = ${JSON.stringify(v)}`);
      for (const v of [0.3, '0.3']) assert.ok(await found('note', v), `note = ${JSON.stringify(v)}`);
      // a whole number sent as a float past 2^53 still matches the integer it is
      const big = okDoc(await ctx.client.post(`updateTask/${id}`, undefined, { body: '{"fields":[{"metaData":{"name":"sev"},"selectedValue":1e16}]}' }));
      assert.ok(big.version > okDoc(res).version);
      for (const v of [10000000000000000, '10000000000000000', 1e16]) assert.ok(await found('sev', v), `sev = ${JSON.stringify(v)} after 1e16`);
      okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'sev' }, selectedValue: 19.99 }] }));
      assert.ok(!(await found('note', 0.1 + 0.2)), '0.30000000000000004 is another number');
      // echoed back, the same value: nothing changes
      const now = okDoc(await updateTask(ctx.client, id, {}));
      const again = okDoc(await updateTask(ctx.client, id, { fields: [{ metaData: { name: 'sev' }, selectedValue: 19.99 }] }));
      assert.equal(again.version, now.version, 'no new version');
    });

    it('required fields cannot be emptied (Title, custom required, a case\'s Due Date): 400, nothing changed', T, async () => {
      const t = await incidentTask();
      for (const v of [null, '']) {
        assertRefused(await updateTask(ctx.client, t.doc._id, { fields: [{ metaData: { name: 'title' }, selectedValue: v }] }), 'invalid_value', 'fields');
        assertRefused(await updateTask(ctx.client, t.doc._id, { fields: [{ metaData: { name: 'sev' }, selectedValue: v }] }), 'invalid_value', 'fields');
      }
      await assertUnchanged(ctx.client, TASK, t, 'task after emptied required fields');
      const c = await newCase(ctx);
      for (const v of [null, '']) {
        assertRefused(await updateCase(ctx.client, c.doc._id, { fields: [{ metaData: { name: 'dueDate' }, selectedValue: v }] }), 'invalid_value', 'fields');
        assertRefused(await updateCase(ctx.client, c.doc._id, { fields: [{ metaData: { name: 'title' }, selectedValue: v }] }), 'invalid_value', 'fields');
      }
      await assertUnchanged(ctx.client, CASE, c, 'case after emptied required fields');
    });

    it('an unknown field (by _id, by name, another template\'s field) → 400 invalid_value field "fields"', T, async () => {
      const { task } = await newPair(ctx);
      const sevId = incident().fields.find((f) => f.metaData.name === 'sev')._id;
      for (const f of [{ _id: 'fd-0000000-0000-4000-8000-000000000000', selectedValue: 'x' }, { metaData: { name: 'nope' }, selectedValue: 'x' },
        { name: 'sev', selectedValue: 1 }, { _id: sevId, selectedValue: 1 }, { selectedValue: 'no name at all' }]) {
        assertRefused(await updateTask(ctx.client, task.doc._id, { fields: [f] }), 'invalid_value', 'fields');
      }
      await assertUnchanged(ctx.client, TASK, task, 'after unknown fields');
    });

    it('case fields: custom number field of a case template', T, async () => {
      const claim = ctx.cfg.caseTemplates.find((t) => t.name === 'Claim');
      const c = await newCase(ctx, { caseTmp: claim._id });
      const d = okDoc(await updateCase(ctx.client, c.doc._id, { fields: [{ metaData: { name: 'amount' }, selectedValue: 125.5 }] })).doc;
      assert.equal(fieldOf(d, 'amount').selectedValue, 125.5);
      assertRefused(await updateCase(ctx.client, c.doc._id, { fields: [{ metaData: { name: 'amount' }, selectedValue: 'lots' }] }), ['invalid_value', 'invalid_type'], 'fields');
    });
  });

  // ------------------------------------------------------------------ currAssignee
  describe('currAssignee ↔ assigneeType', () => {
    for (const kind of KINDS) {
      it(`${kind}: non-empty → agent; {} and null → unassigned; an explicit assigneeType in the body wins`, T, async () => {
        const rec = await newRecord(ctx, kind);
        const id = rec.doc._id;
        let d = okDoc(await update(ctx.client, kind, id, { currAssignee: { _id: 'u-1', name: 'One' } })).doc;
        assert.equal(d.assigneeType, 'agent');
        d = okDoc(await update(ctx.client, kind, id, { currAssignee: {} })).doc;
        assert.equal(d.assigneeType, 'unassigned');
        assert.deepEqual(d.currAssignee, {});
        d = okDoc(await update(ctx.client, kind, id, { currAssignee: { _id: 'u-2' } })).doc;
        d = okDoc(await update(ctx.client, kind, id, { currAssignee: null })).doc;
        assert.equal(d.assigneeType, 'unassigned');
        assert.deepEqual(d.currAssignee, {});
        d = okDoc(await update(ctx.client, kind, id, { currAssignee: { _id: 'qu-1', name: 'Queue' }, assigneeType: 'queue' })).doc;
        assert.equal(d.assigneeType, 'queue');
        d = okDoc(await update(ctx.client, kind, id, { assigneeType: 'bot', currAssignee: { _id: 'b-1' } })).doc;
        assert.equal(d.assigneeType, 'bot', 'assigneeType before currAssignee in the body still wins');
        assert.deepEqual(d.currAssignee, { _id: 'b-1' });
        d = okDoc(await update(ctx.client, kind, id, { assigneeType: 'team' })).doc;
        assert.equal(d.assigneeType, 'team');
        assert.deepEqual(d.currAssignee, { _id: 'b-1' }, 'assigneeType alone leaves currAssignee');
      });
    }

    it('a whole number sent as a float (5.0 for a stored 5) changes nothing: no version, no activity', T, async () => {
      // json_equal tells 5 from 5.0: each echo in the other form was a new version and an activity
      // whose old and new values were the same number
      const rec = await newRecord(ctx, TASK);
      const id = rec.doc._id;
      let d = okDoc(await updateTask(ctx.client, id, { attachments: [{ qty: 5 }], userInfo: { _id: 'u1', name: 'U', score: 4 } }));
      const acts = (await getActivities(ctx.client, id)).json.totalResults;
      for (const body of ['{"attachments":[{"qty":5.0}]}', '{"userInfo":{"_id":"u1","name":"U","score":4.0}}', '{"attachments":[{"qty":5e0}]}']) {
        const r = okDoc(await ctx.client.post(`updateTask/${id}`, undefined, { body }), body);
        assert.equal(r.version, d.version, `${body}: no new version`);
        assert.deepEqual(r.doc.attachments, [{ qty: 5 }]);
      }
      assert.equal((await getActivities(ctx.client, id)).json.totalResults, acts, 'no activity');
      d = okDoc(await ctx.client.post(`updateTask/${id}`, undefined, { body: '{"attachments":[{"qty":5.5}]}' }));
      assert.deepEqual(d.doc.attachments, [{ qty: 5.5 }], 'a different number is a change');
    });

    it('the user\'s ids and name in currAssignee are strings (or null)', T, async () => {
      // {"_id": 5} was stored as an agent's assignment that every filter took for none
      const rec = await newRecord(ctx, TASK);
      const id = rec.doc._id;
      for (const [k, v] of [['_id', 5], ['agentId', true], ['aId', {}], ['name', ['x']]]) {
        assertRefused(await updateTask(ctx.client, id, { currAssignee: { [k]: v } }), 'invalid_type', 'currAssignee');
      }
      await assertUnchanged(ctx.client, TASK, rec, 'after currAssignee of wrong types');
      // API.md §7: any non-empty object sets agent
      let d = okDoc(await updateTask(ctx.client, id, { currAssignee: { _id: null, agentId: '' } })).doc;
      assert.equal(d.assigneeType, 'agent');
      d = okDoc(await updateTask(ctx.client, id, { currAssignee: { aId: 'a-1', name: 'Ann', agentId: 'ag-1' } })).doc;
      assert.equal(d.assigneeType, 'agent', 'the vendor\'s shape names an agent');
      const mine = await ctx.client.post('getTasks', { agents: ['ag-1'] });
      assert.ok(mine.json.results.some((x) => x._id === id));
      const r = await ctx.client.post('createTask', { caseId: rec.doc.caseId, caseRefId: rec.doc.caseRefId, taskTmp: ctx.cfg.taskTemplates[0]._id,
        userInfo: { _id: 'u-1', name: 'Sam' }, source: 'rtm', currAssignee: { _id: 7 } });
      assertRefused(r, 'invalid_type', 'currAssignee');
    });

    it('currAssignee {} sets unassigned even when currAssignee already was {}', T, async () => {
      const rec = await newRecord(ctx, TASK);
      let d = okDoc(await updateTask(ctx.client, rec.doc._id, { assigneeType: 'agent' })).doc;
      assert.deepEqual(d.currAssignee, {});
      d = okDoc(await updateTask(ctx.client, rec.doc._id, { currAssignee: {} })).doc;
      assert.equal(d.assigneeType, 'unassigned', 'currAssignee {} without assigneeType → unassigned');
    });
  });

  // ------------------------------------------------------------------ dueDate / ETA / isBreached
  describe('dueDate, ETA, isBreached', () => {
    for (const kind of KINDS) {
      it(`${kind} dueDate: epoch ms or ISO-8601 (stored as ms, ETA its ISO); bad values → 400 invalid_value`, T, async () => {
        const rec = await newRecord(ctx, kind);
        const id = rec.doc._id;
        const ms = Date.parse('2033-04-05T06:07:08.009Z');
        let r = okDoc(await update(ctx.client, kind, id, { dueDate: ms }));
        assert.equal(r.doc.dueDate, ms);
        assert.equal(r.doc.ETA, '2033-04-05T06:07:08.009Z');
        const same = okDoc(await update(ctx.client, kind, id, { dueDate: '2033-04-05T06:07:08.009Z' }));
        assert.equal(same.version, r.version, 'the same instant as an ISO string changes nothing');
        r = okDoc(await update(ctx.client, kind, id, { dueDate: '2034-01-01T02:00:00+02:00' }));
        assert.equal(r.doc.dueDate, Date.parse('2034-01-01T00:00:00Z'));
        assert.equal(r.doc.ETA, '2034-01-01T00:00:00.000Z');
        r = okDoc(await update(ctx.client, kind, id, { dueDate: 0 }));
        assert.equal(r.doc.dueDate, 0, 'epoch 0 is a valid date');
        assert.equal(r.doc.ETA, '1970-01-01T00:00:00.000Z');
        for (const [text, want] of [['2.0e12', 2e12], ['1800000000000.0', 1.8e12], ['1.9E+12', 1.9e12]]) {
          const rr = await update(ctx.client, kind, id, undefined, { body: `{"dueDate":${text}}` });
          assert.equal(okDoc(rr, `dueDate ${text}`).doc.dueDate, want, `dueDate ${text} is a whole number of ms`);
        }
        const before = await snapshot(ctx.client, kind, id);
        for (const bad of [1.5, -1, -86400000, 'tomorrow', '', '2033-13-01T00:00:00Z', '2033-02-29T00:00:00Z', '12345']) {
          assertRefused(await update(ctx.client, kind, id, { dueDate: bad }), 'invalid_value', 'dueDate');
        }
        await assertUnchanged(ctx.client, kind, before, 'after bad dueDates');
      });

      it(`${kind} isBreached: true iff open/inProgress and dueDate in the past`, T, async () => {
        const rec = await newRecord(ctx, kind);
        const id = rec.doc._id;
        const past = Date.now() - DAY;
        const future = Date.now() + DAY;
        const steps = [
          [{ dueDate: past }, true], [{ status: { name: 'In-Progress' } }, true], [{ status: { name: 'On-Hold' } }, true],
          [{ status: { name: 'Waiting on Customer' } }, true], [{ status: { name: 'Resolved' } }, false],
          [{ status: { name: 'Closed' } }, false], [{ status: { name: 'Open' } }, true], [{ dueDate: future }, false],
          [{ dueDate: past }, true], [{ dueDate: null }, false],
        ];
        for (const [body, want] of steps) {
          const { doc } = okDoc(await update(ctx.client, kind, id, body));
          assert.equal(doc.isBreached, want, `after ${JSON.stringify(body)}`);
        }
      });
    }

    it('isBreached is recomputed on a no-op update once the due date passes (nothing stored)', T, async () => {
      const rec = await newRecord(ctx, TASK);
      const due = Date.now() + 1200;
      const set = okDoc(await updateTask(ctx.client, rec.doc._id, { dueDate: due }));
      assert.equal(set.doc.isBreached, false);
      await sleep(Math.max(0, due - Date.now()) + 300);
      const now = okDoc(await updateTask(ctx.client, rec.doc._id, {}));
      assert.equal(now.doc.isBreached, true, 'past due now: breached');
      assert.equal(now.version, set.version, 'a no-op stores nothing');
      assert.equal(now.doc.timestampValue, set.doc.timestampValue);
      const echo = okDoc(await updateTask(ctx.client, rec.doc._id, { isBreached: false }));
      assert.equal(echo.doc.isBreached, true, 'a client isBreached is ignored');
    });
  });

});

describe('12 update rules: the id lists the server lengthens past the array limit', () => {
  const ctx = useServer({ serverArgs: ['--max-array', '20'] });

  it('a whole document echoed back is accepted with more activityIds or taskIds than the limit', T, async () => {
    // the echo of a record with more than --max-array updates (10,000 by default), or of a case
    // with more tasks, was refused 400 array_too_long for lists the server itself had built
    const { theCase, task } = await newPair(ctx);
    let doc = task.doc;
    for (let i = 0; i < 21; i++) doc = okDoc(await updateTask(ctx.client, doc._id, { desc: `v${i}` })).doc;
    assert.ok(doc.activityIds.length > 20);
    const echoed = okDoc(await updateTask(ctx.client, doc._id, { ...doc, desc: 'echoed' })).doc;
    assert.equal(echoed.desc, 'echoed');
    assert.equal(echoed.activityIds.length, doc.activityIds.length + 1);
    for (let i = 0; i < 21; i++) await newTask(ctx, theCase.doc);
    const c = (await snapshot(ctx.client, CASE, theCase.doc._id)).doc;
    assert.ok(c.taskIds.length > 20, `taskIds: ${c.taskIds.length}`);
    const same = okDoc(await updateCase(ctx.client, c._id, { ...c, desc: 'case echoed' })).doc;
    assert.equal(same.desc, 'case echoed');
    assert.deepEqual(same.taskIds, c.taskIds);
    // a taskIds the client changes is held to the limit
    assertRefused(await updateCase(ctx.client, c._id, { taskIds: [...c.taskIds, 'ts-extra'] }), 'array_too_long', 'taskIds');
    assert.equal(okDoc(await updateCase(ctx.client, c._id, { taskIds: c.taskIds.slice(0, 20) })).doc.taskIds.length, 20);
    // other arrays keep the limit
    assertRefused(await updateTask(ctx.client, doc._id, { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }), 'array_too_long', 'tags');
  });
});
