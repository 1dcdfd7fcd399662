// createTask (API.md §5-6): the task document, defaults, references to its
// case, template checks, per-stream TS numbers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, ids, T, ID_RE } from './lib/env.mjs';
import { tokenFor } from './lib/jwt.mjs';
import { caseBody, taskBody, assertOk, assertError, fieldByName, statusNamed, priorityNamed, DAY } from './lib/client.mjs';
import { CASE, TASK, snapshot } from './lib/update.mjs';

const TASK_MEMBERS = [
  '_id', 'caseId', 'caseRefId', 'taskTmp', 'name', 'lname', 'desc', 'tags', 'userInfo', 'sessIds', 'accountId', 'iId',
  'orgId', 'convIds', 'status', 'source', 'language', 'conversationType', 'fields', 'participants', 'priority', 'refId',
  'assigneeType', 'isCustTsk', 'isActive', 'attachments', 'feedback', 'createdBy', 'updatedBy', 'timestampValue',
  'activityIds', 'commentIds', 'resolutionCmts', 'isBreached', 'queues', 'channel', 'createdAt', 'updatedAt',
  'currAssignee', 'ETA',
];
const EMPTY_ARRAYS = ['tags', 'sessIds', 'convIds', 'participants', 'attachments', 'feedback', 'activityIds', 'commentIds', 'resolutionCmts', 'queues', 'channel'];

describe('05 createTask: the document', () => {
  const org = ids.org();
  const second = ids.stream();
  const ctx = useServer({ app: { org, name: 'Task bot', streams: [ids.stream(), second] } });

  it('answers 200 with the whole task document and its defaults', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const body = taskBody(ctx.cfg, theCase);
    const t0 = Date.now();
    const r = await ctx.client.createTask(body);
    assertOk(r);
    const d = r.json;
    for (const k of TASK_MEMBERS) assert.ok(k in d, `member ${k} missing: ${JSON.stringify(d)}`);
    assert.match(d._id, ID_RE.task);
    assert.equal(d.caseId, theCase._id);
    assert.equal(d.caseRefId, theCase.refId);
    assert.equal(d.taskTmp, ctx.cfg.taskTemplates[0]._id);
    assert.equal(d.conversationType, 'TASK');
    assert.equal(d.isCustTsk, false);
    assert.equal(d.name, ctx.cfg.taskTemplates[0].name, 'name defaults to the template name');
    assert.equal(d.lname, d.name.toLowerCase());
    assert.equal(d.desc, '');
    assert.deepEqual(d.userInfo, body.userInfo);
    assert.equal(d.source, 'rtm');
    assert.equal(d.iId, ctx.app.streams[0]);
    assert.equal(d.accountId, ctx.app.account);
    assert.equal(d.orgId, org);
    assert.deepEqual(d.status, statusNamed(ctx.cfg, 'Open'));
    assert.deepEqual(d.priority, priorityNamed(ctx.cfg, 'Medium'));
    assert.equal(d.assigneeType, 'unassigned');
    assert.deepEqual(d.currAssignee, {});
    assert.equal(d.isActive, true);
    assert.equal(d.language, 'en');
    for (const k of EMPTY_ARRAYS) assert.deepEqual(d[k], [], `${k} must start empty`);
    assert.match(d.createdAt, ID_RE.iso);
    assert.ok(Math.abs(Date.parse(d.createdAt) - t0) < 5000);
    assert.equal(d.timestampValue, Date.parse(d.updatedAt));
    assert.equal(d.ETA, '');
    assert.equal(d.dueDate ?? null, null, 'no dueDate given: dueDate absent');
    assert.equal(d.isBreached, false);
    assert.deepEqual(d.createdBy, { _id: ctx.app.clientId, name: 'Task bot', profImage: '' });
    assert.ok(r.headers.get('etag'), 'ETag header');
  });

  it('name, desc, dueDate given: fields Title/Description/Due Date filled', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const due = Date.now() + DAY;
    const d = await ctx.client.newTask(ctx.cfg, theCase, { name: 'Call The Customer', desc: 'before noon', dueDate: due, tags: ['phone'] });
    assert.equal(d.name, 'Call The Customer');
    assert.equal(d.lname, 'call the customer');
    assert.equal(d.desc, 'before noon');
    assert.equal(d.dueDate, due);
    assert.equal(d.ETA, new Date(due).toISOString());
    assert.deepEqual(d.tags, ['phone']);
    const tmpl = ctx.cfg.taskTemplates[0];
    assert.deepEqual(d.fields.map((f) => f._id).sort(), tmpl.fields.map((f) => f._id).sort());
    assert.equal(fieldByName(d.fields, 'Title').selectedValue, 'Call The Customer');
    assert.equal(fieldByName(d.fields, 'Description').selectedValue, 'before noon');
    assert.equal(fieldByName(d.fields, 'Due Date').selectedValue, new Date(due).toISOString());
  });

  it('createdBy is the JWT sub when present', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const r = await ctx.client.createTask(taskBody(ctx.cfg, theCase), { token: tokenFor(ctx.app, { sub: 'u-agent-9' }) });
    assertOk(r);
    assert.equal(r.json.createdBy._id, 'u-agent-9');
    assert.equal(r.json.updatedBy._id, 'u-agent-9');
  });

  it('status and priority can be given at creation', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const d = await ctx.client.newTask(ctx.cfg, theCase, { status: { name: 'on hold' }, priority: { name: 'Critical' }, dueDate: Date.now() - DAY });
    assert.deepEqual(d.status, statusNamed(ctx.cfg, 'On-Hold'));
    assert.deepEqual(d.priority, priorityNamed(ctx.cfg, 'Critical'));
    assert.equal(d.isBreached, true);
  });

  it('tasks created at once on one case: each in its taskIds once, one case version each, nothing else of the case moves', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const before = await snapshot(ctx.client, CASE, theCase._id);
    const N = 40;
    const tasks = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const r = await ctx.client.createTask(taskBody(ctx.cfg, theCase, { name: `at once ${i}` }));
      assertOk(r, `createTask ${i}`);
      return r.json;
    }));
    const after = await snapshot(ctx.client, CASE, theCase._id);
    assert.equal(after.doc.taskIds.length, N, 'no task twice, none lost');
    assert.deepEqual([...after.doc.taskIds].sort(), tasks.map((t) => t._id).sort());
    assert.equal(after.version, before.version + N, 'the case version moves once per task');
    const rest = (d) => { const { taskIds, isBreached, ...other } = d; return other; };
    assert.deepEqual(rest(after.doc), rest(before.doc), 'only taskIds changed');
    // numbered by the writer after the document was built: distinct, and stored as answered
    assert.equal(new Set(tasks.map((t) => t.refId)).size, N);
    for (const t of tasks) assert.match(t.refId, /^TS\d{6,}$/), assert.notEqual(t.refId, 'TS000000');
    for (const t of tasks.slice(0, 5)) {
      const stored = await snapshot(ctx.client, TASK, t._id);
      const { isBreached: a, ...got } = stored.doc;
      const { isBreached: b, ...want } = t;
      assert.deepEqual(got, want, `task ${t._id} as stored`);
    }
  });

  it('TS numbers are per stream and independent of CS numbers', T, async () => {
    const c1 = await ctx.client.newCase(ctx.cfg);
    const a = await ctx.client.newTask(ctx.cfg, c1);
    const b = await ctx.client.newTask(ctx.cfg, c1);
    assert.match(a.refId, /^TS\d{6,}$/);
    assert.equal(Number(b.refId.slice(2)), Number(a.refId.slice(2)) + 1);
    const c2 = await ctx.client.newCase(ctx.cfg);
    assert.equal(Number(c2.refId.slice(2)), Number(c1.refId.slice(2)) + 1, 'tasks must not consume case numbers');

    const other = ctx.server.client(ctx.app, second);
    const cfg2 = await ctx.env.streamConfig(second);
    const oc = await other.newCase(cfg2);
    assert.equal(oc.refId, 'CS000001');
    const ot = await other.newTask(cfg2, oc);
    assert.equal(ot.refId, 'TS000001');
    assert.equal(ot.iId, second);
  });

  it('the first task of a fresh stream is TS000001 on case CS000001', T, async () => {
    const env = ctx.env;
    const fresh = await env.createApp({ streams: [ids.stream()] });
    const cfg = await env.streamConfig(fresh.streams[0]);
    const c = ctx.server.client(fresh);
    const theCase = await c.newCase(cfg);
    assert.equal(theCase.refId, 'CS000001');
    const t = await c.newTask(cfg, theCase);
    assert.equal(t.refId, 'TS000001');
    assert.equal(t.caseRefId, 'CS000001');
  });
});

describe('05 createTask: validation', () => {
  const ctx = useServer({
    beforeStart: async (c) => {
      c.custom = await c.env.cliJson(['template', 'add', '--stream', c.app.streams[0], '--kind', 'task', '--id', 'ttm-callback', '--name', 'Call back', '--field', 'Phone:input']);
    },
  });

  for (const member of ['caseId', 'caseRefId', 'taskTmp', 'userInfo', 'source']) {
    it(`missing ${member} → 400 missing_member`, T, async () => {
      const theCase = await ctx.client.newCase(ctx.cfg);
      assertError(await ctx.client.createTask(taskBody(ctx.cfg, theCase, { [member]: undefined })), 400, 'missing_member', member);
    });
  }

  it('unknown caseId → 404 not_found', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    assertError(await ctx.client.createTask(taskBody(ctx.cfg, theCase, { caseId: 'ci-0000000-0000-4000-8000-000000000000' })), 404, 'not_found');
    assertError(await ctx.client.createTask(taskBody(ctx.cfg, theCase, { caseId: 'not-a-case-id' })), 404, 'not_found');
  });

  it('caseRefId that is not the case\'s refId → 400 invalid_value caseRefId', T, async () => {
    const c1 = await ctx.client.newCase(ctx.cfg);
    const c2 = await ctx.client.newCase(ctx.cfg);
    assertError(await ctx.client.createTask(taskBody(ctx.cfg, c1, { caseRefId: c2.refId })), 400, 'invalid_value', 'caseRefId');
    assertError(await ctx.client.createTask(taskBody(ctx.cfg, c1, { caseRefId: 'CS999999' })), 400, 'invalid_value', 'caseRefId');
  });

  it('unknown taskTmp, or a case template as taskTmp → 400 invalid_value', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    assertError(await ctx.client.createTask(taskBody(ctx.cfg, theCase, { taskTmp: 'ttm-nope' })), 400, 'invalid_value', 'taskTmp');
    assertError(await ctx.client.createTask(taskBody(ctx.cfg, theCase, { taskTmp: ctx.cfg.caseTemplates[0]._id })), 400, 'invalid_value', 'taskTmp');
  });

  it('a custom task template: name defaults to it and its fields are copied', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const d = await ctx.client.newTask(ctx.cfg, theCase, { taskTmp: 'ttm-callback' });
    assert.equal(d.taskTmp, 'ttm-callback');
    assert.equal(d.name, 'Call back');
    for (const f of ctx.custom.fields) assert.ok(d.fields.some((x) => x._id === f._id), `field ${f._id} not copied`);
  });

  it('unknown member → 400 unknown_member; wrong types → 400 invalid_type', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    assertError(await ctx.client.createTask(taskBody(ctx.cfg, theCase, { caseTmpl: 'x' })), 400, 'unknown_member', 'caseTmpl');
    for (const [member, value] of [['caseId', 7], ['caseRefId', ['CS000001']], ['name', true], ['desc', {}], ['tags', 'x'], ['userInfo', 'Sam'], ['dueDate', false], ['priority', 'Low']]) {
      assertError(await ctx.client.createTask(taskBody(ctx.cfg, theCase, { [member]: value })), 400, 'invalid_type', member);
    }
  });

  it('userInfo rules apply to tasks as well', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    for (const userInfo of [{ name: 'Sam' }, { _id: 'u-1' }, { name: '', emailId: 's@example.com' }]) {
      assertError(await ctx.client.createTask(taskBody(ctx.cfg, theCase, { userInfo })), 400, undefined, (f) => typeof f === 'string' && f.startsWith('userInfo'));
    }
  });

  it('a body that is not a JSON object → 400', T, async () => {
    assertError(await ctx.client.createTask('{"caseId":'), 400, 'invalid_json');
    assertError(await ctx.client.createTask('[1,2]'), 400, 'invalid_type');
  });

  it('a refused createTask writes nothing (TS numbers go on without a gap)', T, async () => {
    const theCase = await ctx.client.newCase(ctx.cfg);
    const a = await ctx.client.newTask(ctx.cfg, theCase);
    await ctx.client.createTask(taskBody(ctx.cfg, theCase, { caseRefId: 'CS999999' }));
    await ctx.client.createTask(taskBody(ctx.cfg, theCase, { taskTmp: 'ttm-nope' }));
    const b = await ctx.client.newTask(ctx.cfg, theCase);
    assert.equal(Number(b.refId.slice(2)), Number(a.refId.slice(2)) + 1);
  });
});
