// createCase (API.md §3-6): the whole document, defaults, validation,
// optional members at creation, and a property test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { useServer, ids, T, ID_RE } from './lib/env.mjs';
import { tokenFor } from './lib/jwt.mjs';
import { caseBody, assertOk, assertError, fieldByName, statusNamed, priorityNamed, DAY } from './lib/client.mjs';

const CASE_MEMBERS = [
  '_id', 'caseTmp', 'name', 'lname', 'desc', 'tags', 'userInfo', 'sessIds', 'accountId', 'iId', 'orgId', 'convIds',
  'status', 'source', 'language', 'conversationType', 'fields', 'participants', 'priority', 'refId', 'assigneeType',
  'isActive', 'attachments', 'feedback', 'createdBy', 'updatedBy', 'timestampValue', 'activityIds', 'commentIds',
  'resolutionCmts', 'dueDate', 'isBreached', 'queues', 'channel', 'createdAt', 'updatedAt', 'currAssignee', 'ETA',
  'taskIds', 'supportCustomTasks',
];
const EMPTY_ARRAYS = ['tags', 'sessIds', 'convIds', 'participants', 'attachments', 'feedback', 'activityIds', 'commentIds', 'resolutionCmts', 'queues', 'channel', 'taskIds'];

describe('04 createCase: the document', () => {
  const org = ids.org();
  const ctx = useServer({ app: { org, name: 'Helpdesk bot' } });

  it('answers 200 with the whole document', T, async () => {
    const t0 = Date.now();
    const due = Date.now() + 3 * DAY;
    const body = caseBody(ctx.cfg, { name: 'Printer On Fire', desc: 'smoke everywhere', dueDate: due });
    const r = await ctx.client.createCase(body);
    const t1 = Date.now();
    assertOk(r);
    const d = r.json;
    for (const k of CASE_MEMBERS) assert.ok(k in d, `member ${k} missing: ${JSON.stringify(d)}`);
    assert.match(d._id, ID_RE.case);
    assert.equal(d.caseTmp, ctx.cfg.caseTemplates[0]._id);
    assert.equal(d.name, 'Printer On Fire');
    assert.equal(d.lname, 'printer on fire');
    assert.equal(d.desc, 'smoke everywhere');
    assert.deepEqual(d.userInfo, body.userInfo);
    assert.equal(d.source, 'rtm');
    assert.equal(d.conversationType, 'CASE');
    assert.equal(d.iId, ctx.app.streams[0]);
    assert.equal(d.accountId, ctx.app.account);
    assert.equal(d.orgId, org);
    assert.equal(d.assigneeType, 'unassigned');
    assert.deepEqual(d.currAssignee, {});
    assert.equal(d.isActive, true);
    assert.equal(d.language, 'en');
    for (const k of EMPTY_ARRAYS) assert.deepEqual(d[k], [], `${k} must start empty`);
    assert.equal(typeof d.supportCustomTasks, 'boolean');
    assert.match(d.createdAt, ID_RE.iso);
    assert.match(d.updatedAt, ID_RE.iso);
    const created = Date.parse(d.createdAt);
    assert.ok(created >= t0 - 1000 && created <= t1 + 1000, `createdAt ${d.createdAt} not now`);
    assert.equal(typeof d.timestampValue, 'number');
    assert.equal(d.timestampValue, Date.parse(d.updatedAt));
    assert.equal(d.dueDate, due);
    assert.equal(d.ETA, new Date(due).toISOString());
    assert.equal(d.isBreached, false);
  });

  it('a case carries the tasks member (API.md §5)', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg);
    assert.ok('tasks' in d, 'member tasks missing');
  });

  it('defaults: the stream\'s full Open status and Medium priority objects', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg);
    assert.deepEqual(d.status, statusNamed(ctx.cfg, 'Open'));
    assert.equal(d.status.statusCategory, 'open');
    assert.deepEqual(d.priority, priorityNamed(ctx.cfg, 'Medium'));
    assert.equal(d.priority.score, 10);
  });

  it('fields are copied from the template with Title/Description/Due Date filled', T, async () => {
    const due = Date.UTC(2031, 0, 2, 3, 4, 5, 678);
    const d = await ctx.client.newCase(ctx.cfg, { name: 'Broken VPN', desc: 'since Monday', dueDate: due });
    const tmpl = ctx.cfg.caseTemplates[0];
    assert.deepEqual(d.fields.map((f) => f._id).sort(), tmpl.fields.map((f) => f._id).sort());
    assert.equal(fieldByName(d.fields, 'Title').selectedValue, 'Broken VPN');
    assert.equal(fieldByName(d.fields, 'Description').selectedValue, 'since Monday');
    assert.equal(fieldByName(d.fields, 'Due Date').selectedValue, '2031-01-02T03:04:05.678Z');
  });

  it('refIds count CS000001, CS000002, ... per stream', T, async () => {
    // other tests of this group created cases before: read where we are and go on
    const a = await ctx.client.newCase(ctx.cfg);
    const b = await ctx.client.newCase(ctx.cfg);
    assert.match(a.refId, /^CS\d{6,}$/);
    assert.equal(Number(b.refId.slice(2)), Number(a.refId.slice(2)) + 1);
    assert.notEqual(a._id, b._id);
  });

  it('createdBy/updatedBy: the JWT sub when present', T, async () => {
    const r = await ctx.client.createCase(caseBody(ctx.cfg), { token: tokenFor(ctx.app, { sub: 'u-agent-7' }) });
    assertOk(r);
    for (const k of ['createdBy', 'updatedBy']) {
      assert.equal(r.json[k]._id, 'u-agent-7');
      assert.equal(typeof r.json[k].name, 'string');
      assert.equal(typeof r.json[k].profImage, 'string');
    }
  });

  it('createdBy/updatedBy: the app when the JWT has no sub', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg);
    assert.deepEqual(d.createdBy, { _id: ctx.app.clientId, name: 'Helpdesk bot', profImage: '' });
    assert.deepEqual(d.updatedBy, d.createdBy);
  });

  it('dueDate as an ISO string is stored as epoch ms', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg, { dueDate: '2030-05-06T07:08:09.123Z' });
    assert.equal(d.dueDate, Date.UTC(2030, 4, 6, 7, 8, 9, 123));
    assert.equal(d.ETA, '2030-05-06T07:08:09.123Z');
  });

  it('a past dueDate on an unresolved case is breached; on a resolved one it is not', T, async () => {
    const past = Date.now() - DAY;
    const open = await ctx.client.newCase(ctx.cfg, { dueDate: past });
    assert.equal(open.isBreached, true);
    const resolved = await ctx.client.newCase(ctx.cfg, { dueDate: past, status: { name: 'Resolved' } });
    assert.equal(resolved.isBreached, false);
    const inProgress = await ctx.client.newCase(ctx.cfg, { dueDate: past, status: { name: 'in progress' } });
    assert.equal(inProgress.isBreached, true);
  });

  it('a dueDate that is neither epoch ms nor ISO-8601 answers 400 naming dueDate', T, async () => {
    for (const bad of ['tomorrow', '2030-13-45T00:00:00Z', '']) {
      assertError(await ctx.client.createCase(caseBody(ctx.cfg, { dueDate: bad })), 400, ['invalid_value', 'invalid_type'], 'dueDate');
    }
  });

  it('an app without an organisation yields orgId ""', T, async () => {
    const noOrg = await ctx.env.createApp({ streams: ctx.app.streams });
    const d = await ctx.server.client(noOrg).newCase(ctx.cfg);
    assert.equal(d.orgId, '');
    assert.equal(d.accountId, noOrg.account);
  });

  it('top-level emailId / phoneNumber are folded into userInfo', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg, { userInfo: { name: 'Kim' }, emailId: 'kim@example.com', phoneNumber: '+15550100' });
    assert.equal(d.userInfo.name, 'Kim');
    assert.equal(d.userInfo.emailId, 'kim@example.com');
    assert.equal(d.userInfo.phoneNumber, '+15550100');
    assert.equal('emailId' in d, false, 'emailId must live in userInfo only');
  });

  it('non-ASCII text round-trips', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg, { name: 'IMPRIMANTE 🚀 ü', desc: '日本語のテキスト', tags: ['naïve', '✓'] });
    assert.equal(d.name, 'IMPRIMANTE 🚀 ü');
    assert.equal(d.lname, 'imprimante 🚀 ü');
    assert.equal(d.desc, '日本語のテキスト');
    assert.deepEqual(d.tags, ['naïve', '✓']);
  });
});

describe('04 createCase: optional members at creation', () => {
  const ctx = useServer({
    beforeStart: async (c) => {
      const s = c.app.streams[0];
      c.escalated = await c.env.cliJson(['status', 'add', '--stream', s, '--name', 'Escalated', '--category', 'inProgress']);
      c.archived = await c.env.cliJson(['status', 'add', '--stream', s, '--name', 'Archived', '--category', 'closed', '--inactive']);
      c.legacy = await c.env.cliJson(['priority', 'add', '--stream', s, '--name', 'Legacy', '--score', '7', '--inactive']);
      c.billing = await c.env.cliJson(['template', 'add', '--stream', s, '--kind', 'case', '--id', 'ctm-billing', '--name', 'Billing', '--field', 'Invoice:input']);
    },
  });

  it('tags, channel, language, sessIds, convIds, isActive are stored as given', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg, {
      tags: ['vip', 'billing'], channel: ['chat', 'email'], language: 'fr', sessIds: ['s1'], convIds: ['c1', 'c2'], isActive: false,
    });
    assert.deepEqual(d.tags, ['vip', 'billing']);
    assert.deepEqual(d.channel, ['chat', 'email']);
    assert.equal(d.language, 'fr');
    assert.deepEqual(d.sessIds, ['s1']);
    assert.deepEqual(d.convIds, ['c1', 'c2']);
    assert.equal(d.isActive, false);
  });

  it('priority by name (any case) or by _id yields the stream\'s full object', T, async () => {
    const high = priorityNamed(ctx.cfg, 'High');
    const critical = priorityNamed(ctx.cfg, 'Critical');
    assert.deepEqual((await ctx.client.newCase(ctx.cfg, { priority: { name: 'high' } })).priority, high);
    assert.deepEqual((await ctx.client.newCase(ctx.cfg, { priority: { _id: critical._id } })).priority, critical);
    // a foreign _id with a known name is fine (API.md §7)
    assert.deepEqual((await ctx.client.newCase(ctx.cfg, { priority: { _id: 'pr-foreign', name: 'High', score: 1 } })).priority, high);
  });

  it('status by name, matched loosely (in progress = In-Progress = IN_PROGRESS)', T, async () => {
    const ip = statusNamed(ctx.cfg, 'In-Progress');
    for (const name of ['in progress', 'IN_PROGRESS', 'In-Progress']) {
      assert.deepEqual((await ctx.client.newCase(ctx.cfg, { status: { name } })).status, ip, name);
    }
    const esc = (await ctx.client.newCase(ctx.cfg, { status: { _id: ctx.escalated._id } })).status;
    assert.equal(esc._id, ctx.escalated._id);
    assert.equal(esc.name, 'Escalated');
  });

  it('unknown status or priority answers 400 invalid_value listing the valid names', T, async () => {
    let e = assertError(await ctx.client.createCase(caseBody(ctx.cfg, { status: { name: 'Pending Forever' } })), 400, 'invalid_value', 'status');
    assert.ok(e.msg.includes('Open') && e.msg.includes('Closed'), `message should list the valid statuses: ${e.msg}`);
    e = assertError(await ctx.client.createCase(caseBody(ctx.cfg, { priority: { _id: 'pr-nope' } })), 400, 'invalid_value', 'priority');
    assert.ok(e.msg.includes('Low') && e.msg.includes('Critical'), `message should list the valid priorities: ${e.msg}`);
  });

  it('an inactive status or priority cannot be chosen', T, async () => {
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { status: { name: 'Archived' } })), 400, 'invalid_value', 'status');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { priority: { _id: ctx.legacy._id } })), 400, 'invalid_value', 'priority');
  });

  it('a custom case template is usable and its fields are copied', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg, { caseTmp: 'ctm-billing' });
    assert.equal(d.caseTmp, 'ctm-billing');
    for (const f of ctx.billing.fields) assert.ok(d.fields.some((x) => x._id === f._id), `field ${f._id} not copied`);
  });

  it('server-managed members sent by the client are ignored', T, async () => {
    const d = await ctx.client.newCase(ctx.cfg, { name: 'Managed', lname: 'something else', isBreached: true, timestampValue: 5, activityIds: ['ac-fake'] });
    assert.equal(d.lname, 'managed');
    assert.equal(d.isBreached, false);
    assert.notEqual(d.timestampValue, 5);
    assert.deepEqual(d.activityIds, []);
  });

  it('a body cannot place the case in another tenant', T, async () => {
    const r = await ctx.client.createCase(caseBody(ctx.cfg, { accountId: 'someone-else', iId: 'st-elsewhere', orgId: 'o-else' }));
    if (r.status === 200) {
      assert.equal(r.json.accountId, ctx.app.account);
      assert.equal(r.json.iId, ctx.app.streams[0]);
      assert.notEqual(r.json.orgId, 'o-else');
    } else {
      assertError(r, 400, ['read_only', 'unknown_member', 'invalid_value']);
    }
  });
});

describe('04 createCase: validation', () => {
  const ctx = useServer();

  for (const member of ['caseTmp', 'name', 'desc', 'userInfo', 'source', 'dueDate']) {
    it(`missing ${member} → 400 missing_member`, T, async () => {
      assertError(await ctx.client.createCase(caseBody(ctx.cfg, { [member]: undefined })), 400, 'missing_member', member);
    });
  }

  it('unknown top-level member → 400 unknown_member naming it', T, async () => {
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { nmae: 'typo' })), 400, 'unknown_member', 'nmae');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { taskTmp: ctx.cfg.taskTemplates[0]._id })), 400, 'unknown_member', 'taskTmp');
  });

  const wrongTypes = [
    ['name', 5], ['desc', false], ['source', ['rtm']], ['caseTmp', {}], ['userInfo', 'Dana'], ['userInfo', ['Dana']],
    ['tags', 'vip'], ['channel', { a: 1 }], ['isActive', 'yes'], ['dueDate', true], ['dueDate', { at: 1 }],
    ['priority', 'High'], ['status', ['Open']], ['language', 1], ['sessIds', 's1'],
  ];
  for (const [member, value] of wrongTypes) {
    it(`wrong type ${member}=${JSON.stringify(value)} → 400 invalid_type naming it`, T, async () => {
      assertError(await ctx.client.createCase(caseBody(ctx.cfg, { [member]: value })), 400, 'invalid_type', member);
    });
  }

  it('array elements are type-checked (tags must hold strings)', T, async () => {
    for (const tags of [[1], ['ok', null], [{}], [['nested']]]) {
      assertError(await ctx.client.createCase(caseBody(ctx.cfg, { tags })), 400, 'invalid_type', (f) => typeof f === 'string' && f.startsWith('tags'));
    }
  });

  it('a body that is not a JSON object → 400', T, async () => {
    assertError(await ctx.client.createCase('{"name": '), 400, 'invalid_json');
    assertError(await ctx.client.createCase('not json at all'), 400, 'invalid_json');
    assertError(await ctx.client.createCase(`${JSON.stringify(caseBody(ctx.cfg))} trailing`), 400, 'invalid_json');
    assertError(await ctx.client.createCase('[]'), 400, 'invalid_type');
    // a top-level scalar is valid JSON but not an object: either word is fine
    assertError(await ctx.client.createCase('"a string"'), 400, ['invalid_type', 'invalid_json']);
    assertError(await ctx.client.createCase('42'), 400, ['invalid_type', 'invalid_json']);
    assertError(await ctx.client.createCase('null'), 400, ['invalid_type', 'invalid_json']);
    assertError(await ctx.client.createCase(''), 400, ['invalid_json', 'missing_member']);
  });

  it('an empty name → 400 naming name', T, async () => {
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { name: '' })), 400, undefined, 'name');
  });

  it('unknown caseTmp, or a task template as caseTmp → 400 invalid_value', T, async () => {
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { caseTmp: 'ctm-does-not-exist' })), 400, 'invalid_value', 'caseTmp');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { caseTmp: ctx.cfg.taskTemplates[0]._id })), 400, 'invalid_value', 'caseTmp');
  });

  it('userInfo needs a non-empty name and one of _id / emailId / phoneNumber', T, async () => {
    const isUserInfo = (f) => typeof f === 'string' && f.startsWith('userInfo');
    for (const userInfo of [{ _id: 'u-1' }, { name: '', _id: 'u-1' }, { name: 'Dana' }, { name: 5, _id: 'u-1' }, {}]) {
      const r = await ctx.client.createCase(caseBody(ctx.cfg, { userInfo }));
      assertError(r, 400, undefined, isUserInfo);
    }
    for (const userInfo of [{ name: 'A', emailId: 'a@example.com' }, { name: 'B', phoneNumber: '+1555' }, { name: 'C', _id: 'u-3' }]) {
      assertOk(await ctx.client.createCase(caseBody(ctx.cfg, { userInfo })), JSON.stringify(userInfo));
    }
  });

  it('a refused create writes nothing (refIds go on without a gap)', T, async () => {
    const a = await ctx.client.newCase(ctx.cfg);
    for (let i = 0; i < 3; i++) await ctx.client.createCase(caseBody(ctx.cfg, { caseTmp: 'ctm-nope' }));
    const b = await ctx.client.newCase(ctx.cfg);
    assert.equal(Number(b.refId.slice(2)), Number(a.refId.slice(2)) + 1);
  });
});

describe('04 createCase: properties', () => {
  const ctx = useServer();

  const STATUS_SPELLINGS = { Open: ['open', 'OPEN'], 'In-Progress': ['in progress', 'in_progress', 'In-Progress'], 'On-Hold': ['on hold', 'ON-HOLD'], Resolved: ['resolved'], Closed: ['Closed'] };
  const UNRESOLVED = new Set(['Open', 'In-Progress', 'On-Hold']);
  // NUL is left out: whether a C server must store U+0000 is a separate question.
  const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((x) => !x.includes('\u0000'));
  const strArr = fc.array(text, { maxLength: 6 });
  const optional = fc.record({
    name: fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,40}$/),
    desc: text,
    source: fc.constantFrom('rtm', 'email', 'chat', 'voice'),
    tags: strArr,
    channel: strArr,
    sessIds: strArr,
    convIds: strArr,
    language: fc.constantFrom('en', 'fr', 'de', 'es', 'hi'),
    isActive: fc.boolean(),
    priority: fc.constantFrom('Low', 'Medium', 'High', 'Critical'),
    status: fc.constantFrom(...Object.keys(STATUS_SPELLINGS)).chain((s) => fc.constantFrom(...STATUS_SPELLINGS[s]).map((spelt) => [s, spelt])),
    dueOffset: fc.oneof(fc.integer({ min: 600_000, max: 365 * DAY }), fc.integer({ min: -365 * DAY, max: -600_000 })),
  }, { requiredKeys: ['name', 'dueOffset'] });

  it('random valid optional members → 200 and the values echoed', { timeout: 60_000 }, async () => {
    await fc.assert(fc.asyncProperty(optional, async (o) => {
      const due = Date.now() + o.dueOffset;
      const body = caseBody(ctx.cfg, { name: o.name, dueDate: due });
      for (const k of ['desc', 'source', 'tags', 'channel', 'sessIds', 'convIds', 'language', 'isActive']) if (k in o) body[k] = o[k];
      if (o.priority) body.priority = { name: o.priority.toLowerCase() };
      if (o.status) body.status = { name: o.status[1] };
      const r = await ctx.client.createCase(body);
      assertOk(r, `body ${JSON.stringify(body)}`);
      const d = r.json;
      assert.equal(d.name, o.name);
      assert.equal(d.lname, o.name.toLowerCase());
      for (const k of ['desc', 'source', 'tags', 'channel', 'sessIds', 'convIds', 'language', 'isActive']) if (k in o) assert.deepEqual(d[k], o[k], k);
      const statusName = o.status ? o.status[0] : 'Open';
      assert.equal(d.status.name, statusName);
      assert.equal(d.priority.name, o.priority ?? 'Medium');
      assert.equal(d.dueDate, due);
      assert.equal(d.ETA, new Date(due).toISOString());
      assert.equal(d.isBreached, UNRESOLVED.has(statusName) && due < Date.now());
    }), { numRuns: 60 });
  });

  const typed = {
    name: 'string', desc: 'string', source: 'string', language: 'string', caseTmp: 'string',
    tags: 'array', channel: 'array', sessIds: 'array', convIds: 'array',
    isActive: 'boolean', dueDate: 'dueDate', userInfo: 'object', priority: 'object', status: 'object',
  };
  const kindOf = (v) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'object' ? 'object' : typeof v);
  const anyJson = fc.oneof(
    fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), text,
    fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.integer(), { maxKeys: 3 }),
  );
  const wrong = fc.tuple(fc.constantFrom(...Object.keys(typed)), anyJson).filter(([member, v]) => {
    const want = typed[member];
    const k = kindOf(v);
    if (want === 'dueDate') return k !== 'number' && k !== 'string';
    return k !== want;
  });

  it('an integer past 2^63 is a number of the wrong type, not invalid JSON (a counterexample the property found)', async () => {
    for (const raw of ['9223372036854776000', '-99999999999999999999']) {
      const body = JSON.stringify(caseBody(ctx.cfg, { name: 'x' })).replace('"name":"x"', `"name":${raw}`);
      assertError(await ctx.client.createCase(body), 400, 'invalid_type', 'name');
    }
  });

  it('a random wrong-typed member → 400 invalid_type naming it', { timeout: 60_000 }, async () => {
    await fc.assert(fc.asyncProperty(wrong, async ([member, value]) => {
      const r = await ctx.client.createCase(caseBody(ctx.cfg, { [member]: value }));
      assertError(r, 400, 'invalid_type', member);
    }), { numRuns: 60 });
  });

  it('a random wrong-typed array element → 400 invalid_type naming the member', { timeout: 60_000 }, async () => {
    const arr = fc.tuple(fc.constantFrom('tags', 'channel', 'sessIds', 'convIds'), fc.array(text, { maxLength: 3 }),
      fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 2 }), fc.dictionary(fc.stringMatching(/^[a-z]{1,4}$/), text, { maxKeys: 2 })));
    await fc.assert(fc.asyncProperty(arr, async ([member, good, bad]) => {
      const r = await ctx.client.createCase(caseBody(ctx.cfg, { [member]: [...good, bad] }));
      assertError(r, 400, 'invalid_type', (f) => typeof f === 'string' && f.startsWith(member));
    }), { numRuns: 40 });
  });
});
