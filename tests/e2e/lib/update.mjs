// Helpers for the updateTask/updateCase suites (tests/e2e/1*.test.mjs): the
// member table (the seed's request-body table + the document of API.md §5),
// update/getActivities calls, ETag versions, snapshots and comparisons.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { assertOk, assertError, apiBase, buildRequest, rawRequest, asFetchLike } from './client.mjs';

export const TASK = 'task';
export const CASE = 'case';
export const KINDS = [TASK, CASE];

// access: rw (settable), ro (read-only: equal echo ignored, else 400 read_only),
// managed (server-computed: client value type-checked, then ignored),
// input (create-only: unknown on update).
// elem: element type checked inside arrays (undefined = any element).
const B = [TASK, CASE];
export const MEMBERS = [
  { name: '_id', type: 'string', access: 'ro', kinds: B },
  { name: 'caseId', type: 'string', access: 'ro', kinds: [TASK] },
  { name: 'caseRefId', type: 'string', access: 'ro', kinds: [TASK] },
  { name: 'caseTmp', type: 'string', access: 'rw', kinds: B },
  { name: 'taskTmp', type: 'string', access: 'rw', kinds: [TASK] },
  { name: 'name', type: 'string', access: 'rw', kinds: B },
  { name: 'lname', type: 'string', access: 'managed', kinds: B },
  { name: 'desc', type: 'string', access: 'rw', kinds: B },
  { name: 'tags', type: 'array', elem: 'string', access: 'rw', kinds: B },
  { name: 'userInfo', type: 'object', access: 'rw', kinds: B },
  { name: 'sessIds', type: 'array', elem: 'string', access: 'rw', kinds: B },
  { name: 'accountId', type: 'string', access: 'ro', kinds: B },
  { name: 'iId', type: 'string', access: 'ro', kinds: B },
  { name: 'lid', type: 'string', access: 'ro', kinds: B, storedAs: 'iId' },
  { name: 'orgId', type: 'string', access: 'ro', kinds: B },
  { name: 'convIds', type: 'array', elem: 'string', access: 'rw', kinds: B },
  { name: 'status', type: 'object', access: 'rw', kinds: B },
  { name: 'source', type: 'string', access: 'rw', kinds: B },
  { name: 'language', type: 'string', access: 'rw', kinds: B },
  { name: 'conversationType', type: 'string', access: 'ro', kinds: B },
  { name: 'fields', type: 'array', elem: 'object', access: 'rw', kinds: B },
  { name: 'participants', type: 'array', access: 'rw', kinds: B },
  { name: 'priority', type: 'object', access: 'rw', kinds: B },
  { name: 'refId', type: 'string', access: 'ro', kinds: B },
  { name: 'assigneeType', type: 'string', access: 'rw', kinds: B },
  { name: 'isCustTsk', type: 'boolean', access: 'rw', kinds: [TASK] },
  { name: 'isActive', type: 'boolean', access: 'rw', kinds: B },
  { name: 'taskIds', type: 'array', elem: 'string', access: 'rw', kinds: B },
  { name: 'supportCustomTasks', type: 'boolean', access: 'rw', kinds: B },
  { name: 'tasks', type: 'array', access: 'managed', kinds: [CASE] },
  { name: 'attachments', type: 'array', access: 'rw', kinds: B },
  { name: 'feedback', type: 'array', access: 'rw', kinds: B },
  { name: 'createdBy', type: 'object', access: 'ro', kinds: B },
  { name: 'updatedBy', type: 'object', access: 'managed', kinds: B },
  { name: 'timestampValue', type: 'number', access: 'managed', kinds: B },
  { name: 'activityIds', type: 'array', elem: 'string', access: 'managed', kinds: B },
  { name: 'commentIds', type: 'array', elem: 'string', access: 'rw', kinds: B },
  { name: 'resolutionCmts', type: 'array', access: 'rw', kinds: B },
  { name: 'dueDate', type: 'number', access: 'rw', kinds: B, date: true },
  { name: 'isBreached', type: 'boolean', access: 'managed', kinds: B },
  { name: 'queues', type: 'array', access: 'rw', kinds: B },
  { name: 'channel', type: 'array', elem: 'string', access: 'rw', kinds: B },
  { name: 'createdAt', type: 'string', access: 'ro', kinds: B },
  { name: 'updatedAt', type: 'string', access: 'managed', kinds: B },
  { name: 'currAssignee', type: 'object', access: 'rw', kinds: B },
  { name: 'ETA', type: 'string', access: 'managed', kinds: B },
  { name: 'emailId', type: 'string', access: 'input', kinds: [CASE] },
  { name: 'phoneNumber', type: 'string', access: 'input', kinds: [CASE] },
];

/** The seed page's request-body table, verbatim (name → type). */
export const SEED_TABLE = {
  caseTmp: 'string', name: 'string', lname: 'string', desc: 'string', tags: 'array', userInfo: 'object',
  sessIds: 'array', accountId: 'string', lid: 'string', orgId: 'string', convIds: 'array', status: 'object',
  language: 'string', source: 'string', conversationType: 'string', fields: 'array', participants: 'array',
  queues: 'array', priority: 'object', refId: 'string', assigneeType: 'string', isActive: 'boolean',
  taskIds: 'array', attachments: 'array', feedback: 'array', createdBy: 'object', updatedBy: 'object',
  timestampValue: 'number', activityIds: 'array', commentIds: 'array', resolutionCmts: 'array', dueDate: 'number',
  isBreached: 'boolean', supportCustomTasks: 'boolean', channel: 'array', createdAt: 'string', updatedAt: 'string',
  currAssignee: 'object', ETA: 'string',
};

export const membersOf = (kind, access) => MEMBERS.filter((m) => m.kinds.includes(kind) && (!access || m.access === access));
export const MANAGED = (kind) => membersOf(kind, 'managed').map((m) => m.name);

/** One sample value of each JSON type. */
export const SAMPLE_OF_TYPE = {
  string: 'x',
  number: 7,
  boolean: true,
  object: { a: 1 },
  array: ['x'],
};

/** Values of the wrong JSON type for a member (a date member accepts strings: a bad one is invalid_value). */
export function wrongTypeValues(m) {
  const out = [];
  for (const [t, v] of Object.entries(SAMPLE_OF_TYPE)) {
    if (t === m.type) continue;
    if (m.date && t === 'string') continue;
    if (m.type === 'array' && t === 'array') continue;
    out.push([t, v]);
  }
  if (m.elem === 'string') out.push(['array with a number', ['ok', 5]], ['array with an object', [{}]], ['array with null', [null]], ['array with an array', [['x']]]);
  if (m.elem === 'object') out.push(['array with a string', ['x']], ['array with a number', [1]], ['array with an array', [[]]], ['array with null', [null]]);
  return out;
}

export const TYPE_WORD = { string: 'string', number: 'number', boolean: 'boolean', object: 'object', array: 'array' };

// ------------------------------------------------------------------ requests

export const endpointOf = (kind, id) => `${kind === CASE ? 'updateCase' : 'updateTask'}/${id}`;

export function update(client, kind, id, body, opts) {
  return client.post(endpointOf(kind, id), body, opts);
}
export const updateTask = (client, id, body, opts) => update(client, TASK, id, body, opts);
export const updateCase = (client, id, body, opts) => update(client, CASE, id, body, opts);

export function getActivities(client, id, body = {}, opts) {
  return client.post(`getActivities/${id}`, body, opts);
}

/** The version in an ETag header ("3" or W/"3"); NaN when absent or malformed. */
export function etagVersion(r) {
  const h = r.headers.get('etag');
  const m = /^(?:W\/)?"(\d+)"$/.exec(h ?? '');
  return m ? Number(m[1]) : NaN;
}

/** Asserts 200 and returns {doc, version}. */
export function okDoc(r, what = 'update') {
  assertOk(r, what);
  const version = etagVersion(r);
  assert.ok(Number.isInteger(version), `${what}: ETag header "<version>" expected, got ${r.headers.get('etag')}`);
  return { doc: r.json, version };
}

/** The record as stored now, read through a no-op update (body {}). */
export async function snapshot(client, kind, id) {
  return okDoc(await update(client, kind, id, {}), `snapshot (no-op update) of ${kind} ${id}`);
}

/** Asserts the record did not change since `before` (same version, same document but isBreached). */
export async function assertUnchanged(client, kind, before, what = '') {
  const now = await snapshot(client, kind, before.doc._id);
  assert.equal(now.version, before.version, `${what}: the version (ETag) moved: nothing may change`);
  assert.deepEqual(strip(now.doc, ['isBreached']), strip(before.doc, ['isBreached']), `${what}: the document changed`);
  return now;
}

/** A copy of a document without the named members. */
export function strip(doc, names) {
  const out = { ...doc };
  for (const n of names) delete out[n];
  return out;
}

/** Names of members whose values differ between two documents (either side may lack one). */
export function changedMembers(a, b) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !isDeepEqual(a[k], b[k])).sort();
}

export function isDeepEqual(x, y) {
  try {
    assert.deepStrictEqual(x, y);
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ fixtures

/** A fresh case (and optionally a task on it). over: createCase overrides. */
export async function newCase(ctx, over = {}, client = ctx.client, cfg = ctx.cfg) {
  const r = await client.createCase(caseBodyLite(cfg, over));
  return okDoc(r, 'createCase');
}

export async function newTask(ctx, theCase, over = {}, client = ctx.client, cfg = ctx.cfg) {
  const body = {
    caseId: theCase._id,
    caseRefId: theCase.refId,
    taskTmp: cfg.taskTemplates[0]._id,
    userInfo: { _id: `u-${randomUUID()}`, name: 'Sam Ortiz' },
    source: 'rtm',
    ...over,
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  const r = await client.createTask(body);
  return okDoc(r, 'createTask');
}

/** A case and a task on it: {theCase, task} as {doc, version}. */
export async function newPair(ctx, taskOver = {}, caseOver = {}) {
  const c = await newCase(ctx, caseOver);
  const t = await newTask(ctx, c.doc, taskOver);
  return { theCase: c, task: t };
}

/** A record of the given kind ({doc, version}); a task gets its own case. */
export async function newRecord(ctx, kind, over = {}) {
  if (kind === CASE) return newCase(ctx, over);
  return (await newPair(ctx, over)).task;
}

function caseBodyLite(cfg, over) {
  const body = {
    caseTmp: cfg.caseTemplates[0]._id,
    name: 'Printer on fire',
    desc: 'Third floor, near the kitchen',
    userInfo: { _id: `u-${randomUUID()}`, name: 'Dana Reyes' },
    source: 'rtm',
    dueDate: Date.now() + 2 * 86_400_000,
    ...over,
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

/** A template field by metaData.name. */
export function fieldOf(doc, name) {
  return (doc.fields ?? []).find((f) => f.metaData?.name === name);
}

export function statusOf(cfg, name) {
  const s = cfg.statuses.find((x) => x.name === name);
  assert.ok(s, `stream has no status ${name}`);
  return s;
}

export function priorityOf(cfg, name) {
  const p = cfg.priorities.find((x) => x.name === name);
  assert.ok(p, `stream has no priority ${name}`);
  return p;
}

/** Asserts a 400 whose errors[0] names the member and (for invalid_type) the expected type. */
export function assertRefused(r, reason, field, { type, status = 400 } = {}) {
  const e = assertError(r, status, reason, field);
  if (type) {
    assert.ok(e.msg.includes(field), `the message must name the member ${field}: ${e.msg}`);
    assert.ok(e.msg.toLowerCase().includes(TYPE_WORD[type]), `the message must name the expected type ${type}: ${e.msg}`);
  }
  return e;
}

/** Sends exact request bytes to the server's API path. headers: [[name, value], ...]. */
export async function rawPost(server, path, headers, body) {
  const res = await rawRequest(server.port, buildRequest({ method: 'POST', path, headers: [['Host', `127.0.0.1:${server.port}`], ...headers], body }));
  res.conn.destroy();
  return asFetchLike(res);
}

export { apiBase };

export const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export const AC_ID = /^ac-[0-9a-f]{7}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
