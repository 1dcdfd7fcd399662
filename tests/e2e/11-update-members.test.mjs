// updateTask/updateCase (API.md §7): the member table drives the tests. For every member of
// the seed's request-body table (plus the document members of §5) and each kind: a value of
// the right type is stored and returned (settable members), every wrong JSON type (and wrong
// array element type) is 400 invalid_type naming the member and its type, and unknown or
// create-only members are 400 unknown_member naming them. A refusal changes nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, ids, T } from './lib/env.mjs';
import {
  MEMBERS, SEED_TABLE, KINDS, TASK, CASE, MANAGED, membersOf, wrongTypeValues, update, okDoc, snapshot,
  assertUnchanged, assertRefused, newRecord, fieldOf, statusOf, priorityOf, changedMembers, strip,
} from './lib/update.mjs';

const DAY = 86_400_000;

/**
 * A right-typed value for a settable member, the members it may move besides the managed
 * ones (mirrors of API.md §4/§7), and a check of the stored result.
 */
function rightValue(ctx, kind, name, doc) {
  const cfg = ctx.cfg;
  const altTask = cfg.taskTemplates.find((t) => t.name === 'Alt Task');
  const altCase = cfg.caseTemplates.find((t) => t.name === 'Alt Case');
  const eq = (v) => (d) => assert.deepEqual(d[name], v, `${name} stored as sent`);
  // a record moved to another template takes its fields (their ids are the template's)
  const fieldsOf = (tmpl) => (d) => assert.deepEqual(d.fields.map((f) => f._id), tmpl.fields.map((f) => f._id), 'the template\'s fields');
  switch (name) {
    case 'caseTmp':
      if (kind === TASK) {
        return {
          value: altTask._id, moves: ['taskTmp', 'fields'],
          check: (d) => {
            assert.equal(d.taskTmp, altTask._id, 'caseTmp in an updateTask body sets taskTmp');
            assert.ok(!('caseTmp' in d), 'a task has no caseTmp member');
            fieldsOf(altTask)(d);
          },
        };
      }
      return { value: altCase._id, moves: ['caseTmp', 'fields'], check: (d) => { eq(altCase._id)(d); fieldsOf(altCase)(d); } };
    case 'taskTmp':
      return { value: altTask._id, moves: ['taskTmp', 'fields'], check: (d) => { eq(altTask._id)(d); fieldsOf(altTask)(d); } };
    case 'name':
      return {
        value: 'Renamed Record 42', moves: ['name', 'fields'],
        check: (d) => {
          assert.equal(d.name, 'Renamed Record 42');
          assert.equal(d.lname, 'renamed record 42');
          assert.equal(fieldOf(d, 'title').selectedValue, 'Renamed Record 42');
        },
      };
    case 'desc':
      return {
        value: 'a new description', moves: ['desc', 'fields'],
        check: (d) => {
          assert.equal(d.desc, 'a new description');
          assert.equal(fieldOf(d, 'description').selectedValue, 'a new description');
        },
      };
    case 'tags': case 'sessIds': case 'convIds': case 'channel': case 'commentIds': case 'taskIds': {
      const v = [`${name}-1`, `${name}-2`];
      return { value: v, moves: [name], check: eq(v) };
    }
    case 'userInfo': {
      const v = { _id: 'u-new-owner', name: 'New Owner', emailId: 'owner@example.com' };
      return { value: v, moves: [name], check: eq(v) };
    }
    case 'currAssignee': {
      const v = { _id: 'u-agent-7', name: 'Agent Seven' };
      return {
        value: v, moves: ['currAssignee', 'assigneeType'],
        check: (d) => {
          assert.deepEqual(d.currAssignee, v);
          assert.equal(d.assigneeType, 'agent');
        },
      };
    }
    case 'status':
      return { value: { name: 'On-Hold' }, moves: ['status'], check: (d) => assert.deepEqual(d.status, statusOf(cfg, 'On-Hold')) };
    case 'priority':
      return { value: { name: 'Critical' }, moves: ['priority'], check: (d) => assert.deepEqual(d.priority, priorityOf(cfg, 'Critical')) };
    case 'fields': {
      const f = fieldOf(doc, 'description');
      return {
        value: [{ _id: f._id, selectedValue: 'set through fields' }], moves: ['fields', 'desc'],
        check: (d) => {
          assert.equal(fieldOf(d, 'description').selectedValue, 'set through fields');
          assert.equal(d.desc, 'set through fields', 'Description mirrors desc');
        },
      };
    }
    case 'participants': case 'attachments': case 'feedback': case 'queues': case 'resolutionCmts': {
      const v = [{ _id: `${name}-a`, note: 'any element' }, 'free text', 3, [true]];
      return { value: v, moves: [name], check: eq(v) };
    }
    case 'source':
      return { value: 'email', moves: [name], check: eq('email') };
    case 'language':
      return { value: 'de', moves: [name], check: eq('de') };
    case 'assigneeType':
      return { value: 'queue', moves: [name], check: eq('queue') };
    case 'isCustTsk': case 'isActive': case 'supportCustomTasks': {
      const v = !(doc[name] ?? false);
      return { value: v, moves: [name], check: eq(v) };
    }
    case 'dueDate': {
      const v = Math.floor(Date.now() / 1000) * 1000 + 5 * DAY;
      return {
        value: v, moves: ['dueDate', 'fields'],
        check: (d) => {
          assert.equal(d.dueDate, v);
          assert.equal(d.ETA, new Date(v).toISOString());
          assert.equal(fieldOf(d, 'dueDate').selectedValue, new Date(v).toISOString());
        },
      };
    }
    default:
      throw new Error(`no right value for ${name}`);
  }
}

describe('11 the member table', () => {
  const ctx = useServer({
    app: { org: ids.org() },
    beforeStart: async (c) => {
      const st = c.app.streams[0];
      await c.env.cliJson(['template', 'add', '--stream', st, '--kind', 'task', '--name', 'Alt Task']);
      await c.env.cliJson(['template', 'add', '--stream', st, '--kind', 'case', '--name', 'Alt Case']);
      c.env.forget(st);
    },
  });

  it('the table these tests use covers the seed\'s request-body table with its documented types', () => {
    for (const [name, type] of Object.entries(SEED_TABLE)) {
      const m = MEMBERS.find((x) => x.name === name);
      assert.ok(m, `seed member ${name} missing from the table`);
      assert.equal(m.type, type, `seed member ${name} is documented as ${type}`);
      assert.ok(m.kinds.includes(TASK), `seed member ${name} is a member of the updateTask body`);
    }
  });

  for (const kind of KINDS) {
    for (const m of membersOf(kind).filter((x) => x.access !== 'input')) {
      const label = m.access === 'rw' ? 'stored and returned' : `${m.access}: type-checked`;
      it(`${kind} ${m.name} (${m.type}${m.elem ? ` of ${m.elem}s` : ''}): ${label}; wrong JSON types → 400 invalid_type naming it`, T, async () => {
        let cur = await newRecord(ctx, kind);
        if (m.access === 'rw') {
          const rv = rightValue(ctx, kind, m.name, cur.doc);
          const r = await update(ctx.client, kind, cur.doc._id, { [m.name]: rv.value });
          const next = okDoc(r, `${m.name} = ${JSON.stringify(rv.value)}`);
          rv.check(next.doc);
          assert.equal(next.version, cur.version + 1, 'one stored change');
          const allowed = new Set([...rv.moves, ...MANAGED(kind)]);
          const moved = changedMembers(cur.doc, next.doc).filter((k) => !allowed.has(k));
          assert.deepEqual(moved, [], `only ${m.name} (and what mirrors it) may change`);
          const stored = await snapshot(ctx.client, kind, cur.doc._id);
          assert.deepEqual(strip(stored.doc, ['isBreached']), strip(next.doc, ['isBreached']), 'the returned document is the stored one');
          cur = stored;
        }
        for (const [what, v] of wrongTypeValues(m)) {
          const r = await update(ctx.client, kind, cur.doc._id, { [m.name]: v });
          assertRefused(r, 'invalid_type', m.name, { type: m.type });
          // a wrong member next to a valid one: the valid one is not applied either
          const r2 = await update(ctx.client, kind, cur.doc._id, { desc: `should not stick (${what})`, [m.name]: v });
          assertRefused(r2, 'invalid_type', m.name);
        }
        await assertUnchanged(ctx.client, kind, cur, `${m.name} after wrong types`);
      });
    }
  }

  for (const kind of KINDS) {
    it(`${kind}: unknown members, other kinds' members and create-only inputs → 400 unknown_member naming them`, T, async () => {
      const cur = await newRecord(ctx, kind);
      const unknown = ['foo', 'Name', 'NAME', 'desc ', 'lName', 'statusId', '', 'emailId', 'phoneNumber', '__proto__', 'constructor'];
      if (kind === CASE) unknown.push('taskTmp', 'caseId', 'caseRefId', 'isCustTsk');
      else unknown.push('tasks');
      for (const name of unknown) {
        for (const v of ['x', null]) {
          const r = await update(ctx.client, kind, cur.doc._id, undefined, { body: `{"desc":"should not stick",${JSON.stringify(name)}:${JSON.stringify(v)}}` });
          // the empty name may be reported as field "" or without a field
          assertRefused(r, 'unknown_member', name === '' ? (f) => f === '' || f === undefined : name);
          assert.ok(r.json.errors[0].msg.includes(name), `the message names ${JSON.stringify(name)}: ${r.json.errors[0].msg}`);
        }
      }
      await assertUnchanged(ctx.client, kind, cur, 'after unknown members');
    });

    it(`${kind}: several unknown members are all named in one answer, before a wrong type`, T, async () => {
      const cur = await newRecord(ctx, kind);
      const r = await update(ctx.client, kind, cur.doc._id, undefined, { body: '{"tags":5,"nmae":"x","desc":"d","foo":1}' });
      assertRefused(r, 'unknown_member', 'nmae');
      const msg = r.json.errors[0].msg;
      assert.ok(msg.includes('nmae') && msg.includes('foo'), `both typos named: ${msg}`);
      await assertUnchanged(ctx.client, kind, cur, 'after several unknown members');
    });
  }
});
