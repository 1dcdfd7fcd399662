// updateTask (API.md §7), property-based: random sequences of valid and invalid patches
// applied to one task, checked against a model of the rules written here. For every patch
// the model predicts the status (200, or 400 naming the member when exactly one is at fault)
// and the settable members afterwards; every 200 is also checked for the derived members
// (lname, Title/Description/Due Date fields, ETA, isBreached, timestampValue), the ETag
// version and activityIds (one more iff something changed).
// Reproduce a failure with CASEMGR_FC_SEED=<seed> (and CASEMGR_FC_PATH=<path>) from the report.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { useServer, ids } from './lib/env.mjs';
import { updateTask, newPair, fieldOf, etagVersion, isDeepEqual, snapshot, TASK } from './lib/update.mjs';

const DAY = 86_400_000;
const NUM_RUNS = Number(process.env.CASEMGR_FC_RUNS ?? 150);

const STRING_MEMBERS = ['desc', 'language', 'source', 'assigneeType'];
const STRING_ARRAYS = ['tags', 'sessIds', 'convIds', 'channel', 'commentIds'];
const ANY_ARRAYS = ['participants', 'attachments', 'feedback', 'queues', 'resolutionCmts'];
const OBJECTS = ['userInfo', 'currAssignee'];
const BOOLS = ['isActive', 'isCustTsk'];
const MODELED = ['name', ...STRING_MEMBERS, ...STRING_ARRAYS, ...ANY_ARRAYS, ...OBJECTS, ...BOOLS, 'status', 'priority', 'dueDate'];
const RO = ['_id', 'caseId', 'caseRefId', 'accountId', 'iId', 'orgId', 'refId', 'conversationType', 'createdAt', 'createdBy'];

// ---------------------------------------------------------------- generators
// An op: { key, value (sent), fault (the expected reason when invalid), to (what the model stores; absent = ignored) }

const text = fc.string({ maxLength: 12 });
const anyElem = fc.oneof(text, fc.integer({ min: -1000, max: 1000 }), fc.boolean(), fc.constant(null),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), text, { maxKeys: 2 }), fc.array(text, { maxLength: 2 }));
const wrongFor = (type) => fc.constantFrom(...Object.entries({ string: 'x', number: 3, boolean: false, object: { k: 1 }, array: ['x'] })
  .filter(([t]) => t !== type).map(([, v]) => v));
// `to`: the value the model stores (plain JSON: generated dictionaries have a null prototype)
const set = (key, v) => ({ to: v === undefined ? undefined : JSON.parse(JSON.stringify(v)) });

function nameOps() {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 16 }).map((v) => ({ key: 'name', value: v, ...set('name', v) })) },
    fc.constantFrom(
      { key: 'name', value: '', fault: 'invalid_value' },
      { key: 'name', value: null, fault: 'invalid_value' },
      { key: 'name', value: 'n'.repeat(1025), fault: 'string_too_long' },
    ),
    wrongFor('string').map((v) => ({ key: 'name', value: v, fault: 'invalid_type' })),
  );
}

function stringOps(key) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 12, unit: fc.constantFrom('a', 'B', ' ', 'é', '✓', '"', '\\', '😀') }).map((v) => ({ key, value: v, ...set(key, v) })) },
    fc.constant({ key, value: null, ...set(key, '') }),
    wrongFor('string').map((v) => ({ key, value: v, fault: 'invalid_type' })),
  );
}

function stringArrayOps(key) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.array(text, { maxLength: 4 }).map((v) => ({ key, value: v, ...set(key, v) })) },
    fc.constant({ key, value: null, ...set(key, []) }),
    fc.constantFrom(['ok', 1], [null], [{}], [['x']]).map((v) => ({ key, value: v, fault: 'invalid_type' })),
    wrongFor('array').map((v) => ({ key, value: v, fault: 'invalid_type' })),
  );
}

function anyArrayOps(key) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.array(anyElem, { maxLength: 3 }).map((v) => ({ key, value: v, ...set(key, v) })) },
    fc.constant({ key, value: null, ...set(key, []) }),
    wrongFor('array').map((v) => ({ key, value: v, fault: 'invalid_type' })),
  );
}

function objectOps(key) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.dictionary(fc.constantFrom('_id', 'name', 'emailId', 'x'), text, { maxKeys: 3 }).map((v) => ({ key, value: v, ...set(key, v) })) },
    fc.constant({ key, value: {}, ...set(key, {}) }),
    fc.constant({ key, value: null, ...set(key, {}) }),
    wrongFor('object').map((v) => ({ key, value: v, fault: 'invalid_type' })),
  );
}

function boolOps(key) {
  return fc.oneof(
    { weight: 3, arbitrary: fc.boolean().map((v) => ({ key, value: v, ...set(key, v) })) },
    fc.constant({ key, value: null, ...set(key, false) }),
    fc.constantFrom('true', 1, [], {}).map((v) => ({ key, value: v, fault: 'invalid_type' })),
  );
}

/** A name as a client might spell it: any case, ' ', '-', '_' alike. */
function spell(name) {
  return fc.tuple(fc.boolean(), fc.boolean(), fc.constantFrom(' ', '-', '_')).map(([up, low, sep]) => {
    let s = name.replace(/[ _-]/g, sep);
    if (up) s = s.toUpperCase(); else if (low) s = s.toLowerCase();
    return s;
  });
}

function configOps(key, list) {
  const active = list.filter((x) => x.isActive !== false && x.isEnabled !== false);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...active).chain((x) => spell(x.name).map((n) => ({ key, value: { name: n }, ...set(key, x) }))) },
    fc.constantFrom(...active).map((x) => ({ key, value: { _id: x._id, name: 'whatever' }, ...set(key, x) })),
    fc.constantFrom(...active).map((x) => ({ key, value: { _id: `${key}-foreign`, name: x.name }, ...set(key, x) })),
    fc.constantFrom({ key, value: { name: 'No Such Thing' }, fault: 'invalid_value' }, { key, value: null, fault: 'invalid_value' }, { key, value: {}, fault: 'invalid_value' }),
    wrongFor('object').map((v) => ({ key, value: v, fault: 'invalid_type' })),
  );
}

function dueDateOps() {
  const now = Date.now();
  const ms = fc.oneof(fc.integer({ min: 1, max: 1000 }).map((d) => now - d * DAY - 12345), fc.integer({ min: 1, max: 1000 }).map((d) => now + d * DAY + 6789));
  return fc.oneof(
    { weight: 3, arbitrary: ms.map((v) => ({ key: 'dueDate', value: v, ...set('dueDate', v) })) },
    ms.map((v) => ({ key: 'dueDate', value: new Date(v).toISOString(), ...set('dueDate', v) })),
    fc.constant({ key: 'dueDate', value: null, ...set('dueDate', undefined) }),
    fc.constantFrom(-5, 1.5, 'not a date', '2030-02-30T00:00:00Z').map((v) => ({ key: 'dueDate', value: v, fault: 'invalid_value' })),
    fc.constantFrom(true, {}, []).map((v) => ({ key: 'dueDate', value: v, fault: 'invalid_type' })),
  );
}

function readOnlyOps(doc) {
  return fc.constantFrom(...RO).chain((key) => fc.oneof(
    fc.constant({ key, value: doc[key] }), // an echo: accepted, ignored
    fc.constant({ key, value: typeof doc[key] === 'string' ? `${doc[key]}-other` : { ...doc[key], _id: 'u-other' }, fault: 'read_only' }),
  ));
}

function managedOps() {
  return fc.constantFrom(
    { key: 'lname', value: 'forged' }, { key: 'updatedAt', value: '2000-01-01T00:00:00.000Z' }, { key: 'timestampValue', value: 1 },
    { key: 'updatedBy', value: { _id: 'u-forger' } }, { key: 'activityIds', value: ['ac-forged'] }, { key: 'isBreached', value: true },
    { key: 'ETA', value: '2000-01-01T00:00:00.000Z' }, { key: 'lname', value: 5, fault: 'invalid_type' },
  );
}

function patchArb(cfg, doc) {
  const op = fc.oneof(
    nameOps(),
    ...STRING_MEMBERS.map(stringOps), ...STRING_ARRAYS.map(stringArrayOps), ...ANY_ARRAYS.map(anyArrayOps),
    ...OBJECTS.map(objectOps), ...BOOLS.map(boolOps),
    configOps('status', cfg.statuses), configOps('priority', cfg.priorities), dueDateOps(),
    { weight: 1, arbitrary: readOnlyOps(doc) }, { weight: 1, arbitrary: managedOps() },
    { weight: 1, arbitrary: fc.constantFrom('bogus', 'Desc', 'emailId').map((key) => ({ key, value: 'x', fault: 'unknown_member' })) },
  );
  return fc.uniqueArray(op, { minLength: 1, maxLength: 4, selector: (o) => o.key });
}

// ---------------------------------------------------------------- the model

function modelOf(doc) {
  const m = {};
  for (const k of MODELED) m[k] = structuredClone(doc[k]);
  return m;
}

/** Applies a valid patch to a copy of the model (API.md §7 rules). */
function applyPatch(model, ops) {
  const next = structuredClone(model);
  for (const o of ops) if ('to' in o) next[o.key] = structuredClone(o.to);
  const keys = new Set(ops.map((o) => o.key));
  if (keys.has('currAssignee') && !keys.has('assigneeType')) {
    next.assigneeType = Object.keys(next.currAssignee).length ? 'agent' : 'unassigned';
  }
  return next;
}

function expectedBreach(model) {
  const cat = model.status?.statusCategory;
  return model.dueDate !== undefined && model.dueDate < Date.now() && (cat === 'open' || cat === 'inProgress');
}

function checkDoc(doc, model, where) {
  for (const k of MODELED) {
    assert.deepStrictEqual(doc[k], model[k], `${where}: member ${k}`);
  }
  assert.equal(doc.lname, doc.name.toLowerCase(), `${where}: lname`);
  assert.equal(fieldOf(doc, 'title').selectedValue, doc.name, `${where}: Title field`);
  assert.equal(fieldOf(doc, 'description').selectedValue, doc.desc, `${where}: Description field`);
  const eta = model.dueDate === undefined ? '' : new Date(model.dueDate).toISOString();
  assert.equal(doc.ETA, eta, `${where}: ETA`);
  assert.equal(fieldOf(doc, 'dueDate').selectedValue, eta, `${where}: Due Date field`);
  assert.equal(doc.isBreached, expectedBreach(model), `${where}: isBreached`);
  assert.equal(doc.timestampValue, Date.parse(doc.updatedAt), `${where}: timestampValue`);
}

describe('14 property: random patch sequences against a model of §7', () => {
  const ctx = useServer({ app: { org: ids.org() }, serverArgs: ['--durability', 'normal'] });

  it(`${NUM_RUNS} random sequences of up to 12 patches to one task`, { timeout: 40_000 }, async () => {
    const { task: proto } = await newPair(ctx);
    const seed = process.env.CASEMGR_FC_SEED ? Number(process.env.CASEMGR_FC_SEED) : undefined;
    const path = process.env.CASEMGR_FC_PATH;
    const sequences = fc.array(patchArb(ctx.cfg, proto.doc), { minLength: 1, maxLength: 12 });
    await fc.assert(fc.asyncProperty(sequences, async (patches) => {
      const { task } = await newPair(ctx);
      let cur = { doc: task.doc, version: task.version };
      let model = modelOf(task.doc);
      // read-only echoes in the generated ops carry the prototype's values: point them at this task
      const fix = (o) => (RO.includes(o.key) && !o.fault ? { ...o, value: task.doc[o.key] } : o);
      for (const [i, raw] of patches.entries()) {
        const ops = raw.map(fix);
        const body = Object.fromEntries(ops.map((o) => [o.key, o.value]));
        const where = `patch ${i} ${JSON.stringify(body).slice(0, 300)}`;
        const r = await updateTask(ctx.client, task.doc._id, body);
        const faults = ops.filter((o) => o.fault);
        if (faults.length) {
          assert.equal(r.status, 400, `${where}: expected 400 (${faults.map((f) => `${f.key}: ${f.fault}`).join(', ')}), got ${r.status} ${r.text.slice(0, 300)}`);
          if (faults.length === 1) {
            const e = r.json?.errors?.[0];
            assert.equal(e?.field, faults[0].key, `${where}: the error names ${faults[0].key}: ${r.text.slice(0, 300)}`);
            assert.equal(e?.reason, faults[0].fault, `${where}: reason: ${r.text.slice(0, 300)}`);
          }
          continue;
        }
        assert.equal(r.status, 200, `${where}: expected 200, got ${r.status} ${r.text.slice(0, 300)}`);
        const next = applyPatch(model, ops);
        const changed = !isDeepEqual(next, model);
        checkDoc(r.json, next, where);
        assert.equal(etagVersion(r), cur.version + (changed ? 1 : 0), `${where}: ETag version (changed: ${changed})`);
        assert.equal(r.json.activityIds.length, cur.doc.activityIds.length + (changed ? 1 : 0), `${where}: activityIds (changed: ${changed})`);
        if (!changed) assert.equal(r.json.timestampValue, cur.doc.timestampValue, `${where}: a no-op leaves timestampValue`);
        cur = { doc: r.json, version: etagVersion(r) };
        model = next;
      }
      const end = await snapshot(ctx.client, TASK, task.doc._id);
      checkDoc(end.doc, model, 'final read');
      assert.equal(end.version, cur.version, 'final version');
    }), { numRuns: NUM_RUNS, seed, path, endOnFailure: false, includeErrorInReport: true, interruptAfterTimeLimit: 30_000, markInterruptAsFailure: false });
  });
});
