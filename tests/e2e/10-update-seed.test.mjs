// updateTask/updateCase (API.md §7, the seed page 000_9c0a91fa76528ce3): the seed's own
// request byte for byte (and through curl), ETag versions, headers, bodies, unknown ids,
// and the size limits (defaults, and small limits set by serve flags).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { useServer, ids, T } from './lib/env.mjs';
import { assertError, assertOk, RawConn, buildRequest, asFetchLike } from './lib/client.mjs';
import {
  TASK, CASE, MANAGED, updateTask, updateCase, update, okDoc, etagVersion, snapshot, assertUnchanged,
  newPair, newCase, fieldOf, rawPost, apiBase, ISO_MS, AC_ID, strip,
} from './lib/update.mjs';

const SEED_BODY = '{\n    "name": "Task Testing"\n}';

/** The seed's headers in its order, with its placeholders filled in. */
function seedHeaders(accountId, jwt) {
  return [
    ['sec-ch-ua', '"Google Chrome";v="123", "Not:A-Brand";v="8", "Chromium";v="123"'],
    ['AccountId', accountId],
    ['client-app', 'unified'],
    ['X-Timezone-Offset', '-330'],
    ['sec-ch-ua-mobile', '?0'],
    ['auth', jwt],
    ['state', 'configured'],
    ['Iid', 'st-084d3c5e-376a-559f-9987-a012bb2bxxxx'],
    ['Content-Type', 'application/json;charset=UTF-8'],
    ['Accept', 'application/json, text/plain, */*'],
    ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36'],
    ['bot-language', 'en'],
    ['app-language', 'en'],
    ['Referer', 'http://localhost/builder/app/welcomeflows'],
    ['sec-ch-ua-platform', '"Linux"'],
  ];
}

/** A task with many members set, so "everything else unchanged" means something. */
async function richTask(ctx) {
  const { theCase, task } = await newPair(ctx, {
    name: 'Original Task',
    desc: 'as created',
    tags: ['a', 'b'],
    sessIds: ['s-1'],
    convIds: ['c-1'],
    channel: ['chat'],
    language: 'fr',
    priority: { name: 'High' },
    dueDate: Date.now() + 3 * 86_400_000,
    queues: [{ _id: 'qu-1', name: 'Tier 1' }],
    participants: [{ _id: 'u-p1' }],
  });
  return { theCase, task };
}

/** The seed's promise: name and lname changed, every other member as it was but the managed ones. */
function assertSeedResult(ctx, before, r) {
  const { doc, version } = okDoc(r, 'the seed request');
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/i);
  assert.equal(version, before.version + 1, 'ETag: one stored change = version + 1');
  assert.equal(doc.name, 'Task Testing');
  assert.equal(doc.lname, 'task testing');
  assert.deepEqual(Object.keys(doc), Object.keys(before.doc), 'the same members, in the same order');
  const managed = new Set(MANAGED(TASK));
  for (const k of Object.keys(before.doc)) {
    if (k === 'name' || managed.has(k)) continue;
    if (k === 'fields') {
      // the Title field mirrors name (API.md §4/§7); every other field as it was
      const exp = before.doc.fields.map((f) => (f.metaData?.name === 'title' ? { ...f, selectedValue: 'Task Testing' } : f));
      assert.deepEqual(doc.fields, exp, 'fields: only the Title field follows name');
      continue;
    }
    assert.deepEqual(doc[k], before.doc[k], `member ${k} must not change`);
  }
  assert.match(doc.updatedAt, ISO_MS);
  assert.ok(Date.parse(doc.updatedAt) >= Date.parse(before.doc.updatedAt), 'updatedAt moves forward');
  assert.equal(doc.timestampValue, Date.parse(doc.updatedAt), 'timestampValue = updatedAt in ms');
  assert.deepEqual(doc.updatedBy, { _id: ctx.app.clientId, name: ctx.app.name, profImage: '' });
  assert.equal(doc.activityIds.length, before.doc.activityIds.length + 1, 'one activity');
  assert.match(doc.activityIds.at(-1), AC_ID);
  assert.equal(doc.ETA, before.doc.ETA);
  assert.equal(doc.isBreached, false);
  return doc;
}

describe('10 the seed request', () => {
  const ctx = useServer({ app: { name: 'Seed bot', org: ids.org() } });

  it('the seed sample byte for byte (every header, charset=UTF-8) → 200, name and lname changed, nothing else', T, async () => {
    const { task } = await richTask(ctx);
    const path = `${apiBase(ctx.app.streams[0])}updateTask/${task.doc._id}`;
    const r = await rawPost(ctx.server, path, seedHeaders(ctx.app.account, ctx.client.token()), SEED_BODY);
    assertSeedResult(ctx, task, r);
    // and it is stored: a no-op read gives the same document and version
    const now = await snapshot(ctx.client, TASK, task.doc._id);
    assert.equal(now.version, task.version + 1);
    assert.deepEqual(strip(now.doc, ['isBreached']), strip(r.json, ['isBreached']));
  });

  it('the seed sample run with curl, exactly as documented (host swapped) → 200', { ...T, skip: existsSync('/usr/bin/curl') ? false : 'no curl' }, async () => {
    const { task } = await richTask(ctx);
    const url = `${ctx.server.base}${apiBase(ctx.app.streams[0])}updateTask/${task.doc._id}`;
    const args = ['--silent', '--show-error', '--max-time', '10', '--include', '--location', url];
    for (const [k, v] of seedHeaders(ctx.app.account, ctx.client.token())) args.push('--header', `${k}: ${v}`);
    args.push('--data', SEED_BODY);
    const out = await new Promise((resolve, reject) => {
      execFile('curl', args, { timeout: 15_000 }, (err, stdout, stderr) => (err ? reject(new Error(`curl: ${err.message} ${stderr}`)) : resolve(stdout)));
    });
    const sep = out.indexOf('\r\n\r\n');
    const head = out.slice(0, sep);
    const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)?.[1]);
    const headers = new Map(head.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const text = out.slice(sep + 4);
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    assertSeedResult(ctx, task, { status, text, json, headers: { get: (k) => headers.get(k.toLowerCase()) ?? null } });
  });

  it('the seed request on updateCase (case twin) → 200, name/lname changed', T, async () => {
    const c = await newCase(ctx, { name: 'Case Before' });
    const path = `${apiBase(ctx.app.streams[0])}updateCase/${c.doc._id}`;
    const r = await rawPost(ctx.server, path, seedHeaders(ctx.app.account, ctx.client.token()), SEED_BODY);
    const { doc, version } = okDoc(r);
    assert.equal(version, c.version + 1);
    assert.equal(doc.name, 'Task Testing');
    assert.equal(doc.lname, 'task testing');
    assert.equal(fieldOf(doc, 'title').selectedValue, 'Task Testing');
    for (const k of ['desc', 'userInfo', 'status', 'priority', 'dueDate', 'ETA', 'refId', 'createdAt', 'createdBy', 'caseTmp', 'taskIds', 'tags']) {
      assert.deepEqual(doc[k], c.doc[k], `case member ${k} must not change`);
    }
  });
});

describe('10 ETag versions, headers, bodies, ids', () => {
  const ctx = useServer({ app: { org: ids.org() } });

  it('ETag "1" at create, +1 per stored change, unchanged by a no-op', T, async () => {
    const { theCase, task } = await newPair(ctx);
    assert.equal(task.version, 1, 'a created task is version 1');
    assert.ok(Number.isInteger(theCase.version));
    let r = await updateTask(ctx.client, task.doc._id, { desc: 'one' });
    assert.equal(r.headers.get('etag'), '"2"');
    r = await updateTask(ctx.client, task.doc._id, { desc: 'one' });
    assert.equal(r.headers.get('etag'), '"2"', 'same value: no change, same version');
    r = await updateTask(ctx.client, task.doc._id, {});
    assert.equal(r.headers.get('etag'), '"2"', 'empty body: no change');
    r = await updateTask(ctx.client, task.doc._id, { desc: 'two', tags: ['t'] });
    assert.equal(r.headers.get('etag'), '"3"', 'two members in one update: one version');
    const c1 = await updateCase(ctx.client, theCase.doc._id, {});
    const c2 = await updateCase(ctx.client, theCase.doc._id, { desc: 'case changed' });
    assert.equal(etagVersion(c2), etagVersion(c1) + 1);
  });

  it('accountId header: required (400 missing_header), must be the app\'s (403), any case of its name', T, async () => {
    const { theCase, task } = await newPair(ctx);
    for (const [kind, rec] of [[TASK, task], [CASE, theCase]]) {
      assertError(await update(ctx.client, kind, rec.doc._id, { desc: 'x' }, { accountId: null }), 400, 'missing_header', 'accountId');
      assertError(await update(ctx.client, kind, rec.doc._id, { desc: 'x' }, { accountId: ids.account() }), 403, 'account_mismatch');
    }
    await assertUnchanged(ctx.client, TASK, task, 'after refused headers');
    for (const name of ['accountId', 'ACCOUNTID', 'AccountId']) {
      const r = await updateTask(ctx.client, task.doc._id, { desc: name }, { accountId: null, headers: { [name]: ctx.app.account } });
      assertOk(r, `header ${name}`);
      assert.equal(r.json.desc, name);
    }
  });

  it('auth and content type: no token 401, text/plain 415, JSON with parameters accepted', T, async () => {
    const { task } = await newPair(ctx);
    assertError(await updateTask(ctx.client, task.doc._id, { desc: 'x' }, { token: null }), 401);
    assertError(await updateTask(ctx.client, task.doc._id, { desc: 'x' }, { headers: { 'content-type': 'text/plain' } }), 415);
    const r = await updateTask(ctx.client, task.doc._id, { desc: 'ct' }, { headers: { 'content-type': 'Application/JSON; charset=utf-8' } });
    assertOk(r);
    assert.equal(r.json.desc, 'ct');
  });

  it('the body must be one JSON object: arrays, scalars, null, bad JSON, duplicates, empty → 400, nothing changed', T, async () => {
    const { task } = await newPair(ctx);
    for (const body of ['[]', '[{"desc":"x"}]', '"desc"', '5', 'true', 'null', '{"desc":', '{desc: "x"}', '{"desc":"a","desc":"b"}', '', ' ']) {
      const r = await updateTask(ctx.client, task.doc._id, undefined, { body });
      assertError(r, 400, undefined);
    }
    await assertUnchanged(ctx.client, TASK, task, 'after bad bodies');
  });

  it('methods other than POST: 405 with Allow: POST', T, async () => {
    const { task } = await newPair(ctx);
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      const r = await updateTask(ctx.client, task.doc._id, method === 'GET' || method === 'DELETE' ? undefined : { desc: 'x' }, { method });
      assertError(r, 405);
      assert.match(r.headers.get('allow') ?? '', /POST/);
    }
  });

  it('unknown ids → 404 not_found (also a case id on updateTask and a task id on updateCase)', T, async () => {
    const { theCase, task } = await newPair(ctx);
    const fake = 'ti-0123456-89ab-4cde-8f01-23456789abcd';
    assertError(await updateTask(ctx.client, fake, { desc: 'x' }), 404, 'not_found');
    assertError(await updateCase(ctx.client, fake.replace('ti-', 'ci-'), { desc: 'x' }), 404, 'not_found');
    assertError(await updateTask(ctx.client, theCase.doc._id, { desc: 'x' }), 404, 'not_found');
    assertError(await updateCase(ctx.client, task.doc._id, { desc: 'x' }), 404, 'not_found');
    assertError(await updateTask(ctx.client, 'ti-bad%20id', { desc: 'x' }), 404);
    await assertUnchanged(ctx.client, TASK, task, 'after 404s');
    await assertUnchanged(ctx.client, CASE, await snapshot(ctx.client, CASE, theCase.doc._id), 'case after 404s');
  });
});

describe('10 limits at their defaults', () => {
  const ctx = useServer();

  it('body: exactly 1 MiB accepted, 1 MiB + 1 → 413 body_too_large, nothing changed', T, async () => {
    const { task } = await newPair(ctx);
    const core = '{"desc":"big body"}';
    const exact = core + ' '.repeat(1048576 - core.length);
    assert.equal(Buffer.byteLength(exact), 1048576);
    const ok = await updateTask(ctx.client, task.doc._id, undefined, { body: exact });
    const { version } = okDoc(ok, '1 MiB body');
    assert.equal(ok.json.desc, 'big body');
    const before = await snapshot(ctx.client, TASK, task.doc._id);
    assert.equal(before.version, version);
    // announced size over the limit: answered from the headers
    const path = `${apiBase(ctx.app.streams[0])}updateTask/${task.doc._id}`;
    const conn = await RawConn.open(ctx.server.port);
    let r;
    try {
      await conn.write(buildRequest({ path, headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', ctx.client.token()], ['accountId', ctx.app.account], ['Content-Length', '1048577']] }));
      r = asFetchLike(await conn.readResponse(5000));
    } finally {
      conn.destroy();
    }
    assertError(r, 413, 'body_too_large');
    await assertUnchanged(ctx.client, TASK, before, 'after 413');
  });

  it('a client that sends a whole 1 MiB + 1 body (fetch) reads the 413, not a broken connection', T, async () => {
    // a server that closes without reading the body resets the connection under the
    // client's feet, intermittently: try ten times, every one must read the 413
    const { task } = await newPair(ctx);
    const big = '{"desc":"too big"}' + ' '.repeat(1048576);
    const failures = [];
    for (let i = 0; i < 10; i++) {
      try {
        const r = await updateTask(ctx.client, task.doc._id, undefined, { body: big });
        if (r.status !== 413 || r.json?.errors?.[0]?.reason !== 'body_too_large') failures.push(`attempt ${i}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
      } catch (e) {
        failures.push(`attempt ${i}: connection failed (${e.cause?.code ?? e.message})`);
      }
    }
    assert.deepEqual(failures, [], `every attempt must read 413 body_too_large:\n${failures.join('\n')}`);
    await assertUnchanged(ctx.client, TASK, task, 'after 413');
  });

  it('name: 1024 bytes accepted, 1025 bytes (ASCII or multi-byte) → 400 string_too_long field name', T, async () => {
    const { task } = await newPair(ctx);
    let r = await updateTask(ctx.client, task.doc._id, { name: 'n'.repeat(1024) });
    assertOk(r);
    assert.equal(r.json.name.length, 1024);
    r = await updateTask(ctx.client, task.doc._id, { name: 'é'.repeat(512) });
    assertOk(r, '512 × é = 1024 bytes');
    const before = await snapshot(ctx.client, TASK, task.doc._id);
    assertError(await updateTask(ctx.client, task.doc._id, { name: 'n'.repeat(1025) }), 400, 'string_too_long', 'name');
    assertError(await updateTask(ctx.client, task.doc._id, { name: 'é'.repeat(512) + 'x' }), 400, 'string_too_long', 'name');
    const title = fieldOf(before.doc, 'title');
    assertError(await updateTask(ctx.client, task.doc._id, { fields: [{ _id: title._id, selectedValue: 'n'.repeat(1025) }] }), 400, 'string_too_long');
    await assertUnchanged(ctx.client, TASK, before, 'after long names');
  });

  it('strings 64 KiB, arrays 10000, depth 32, invalid UTF-8', T, async () => {
    const { task } = await newPair(ctx);
    const ok = await updateTask(ctx.client, task.doc._id, { desc: 'd'.repeat(65536), tags: Array.from({ length: 10000 }, (_, i) => `t${i}`) });
    assertOk(ok, '64 KiB string and 10000-element array');
    assert.equal(ok.json.desc.length, 65536);
    assert.equal(ok.json.tags.length, 10000);
    const nest = (n) => (n === 1 ? [] : [nest(n - 1)]); // n nested arrays
    assertOk(await updateTask(ctx.client, task.doc._id, { participants: nest(31) }), 'depth 32 (body + 31 arrays)');
    const before = await snapshot(ctx.client, TASK, task.doc._id);
    assertError(await updateTask(ctx.client, task.doc._id, { desc: 'd'.repeat(65537) }), 400, 'string_too_long', 'desc');
    assertError(await updateTask(ctx.client, task.doc._id, { tags: Array.from({ length: 10001 }, () => 't') }), 400, 'array_too_long', 'tags');
    assertError(await updateTask(ctx.client, task.doc._id, { participants: nest(32) }), 400, 'nesting_too_deep');
    assertError(await updateTask(ctx.client, task.doc._id, undefined, { body: '{"p":' + '['.repeat(100000) + ']'.repeat(100000) + '}' }), [400, 413], ['nesting_too_deep', 'body_too_large']);
    const bad = Buffer.concat([Buffer.from('{"desc":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    assertError(await updateTask(ctx.client, task.doc._id, undefined, { body: bad }), 400, 'invalid_utf8');
    const lone = Buffer.concat([Buffer.from('{"desc":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    assertError(await updateTask(ctx.client, task.doc._id, undefined, { body: lone }), 400, 'invalid_utf8');
    await assertUnchanged(ctx.client, TASK, before, 'after limit refusals');
  });
});

describe('10 limits set by serve flags', () => {
  const ctx = useServer({ serverArgs: ['--body-limit', '4096', '--max-depth', '6', '--max-string', '100', '--max-array', '5'] });

  it('--body-limit, --max-depth, --max-string, --max-array: at the limit 200, one past 4xx, nothing changed', T, async () => {
    const { task } = await newPair(ctx);
    const id = task.doc._id;
    const core = '{"desc":"edge"}';
    assertOk(await updateTask(ctx.client, id, undefined, { body: core + ' '.repeat(4096 - core.length) }), 'body of exactly 4096 bytes');
    const nest = (n) => (n === 1 ? [] : [nest(n - 1)]); // n nested arrays
    assertOk(await updateTask(ctx.client, id, { participants: nest(5) }), 'depth 6');
    assertOk(await updateTask(ctx.client, id, { desc: 's'.repeat(100) }), 'string of 100 bytes');
    assertOk(await updateTask(ctx.client, id, { tags: ['1', '2', '3', '4', '5'] }), 'array of 5');
    const before = await snapshot(ctx.client, TASK, id);
    assertError(await updateTask(ctx.client, id, undefined, { body: core + ' '.repeat(4097 - core.length) }), 413, 'body_too_large');
    assertError(await updateTask(ctx.client, id, { participants: nest(6) }), 400, 'nesting_too_deep');
    assertError(await updateTask(ctx.client, id, { desc: 's'.repeat(101) }), 400, 'string_too_long', 'desc');
    assertError(await updateTask(ctx.client, id, { userInfo: { name: 'n'.repeat(101) } }), 400, 'string_too_long', 'userInfo');
    assertError(await updateTask(ctx.client, id, { tags: ['1', '2', '3', '4', '5', '6'] }), 400, 'array_too_long', 'tags');
    assertError(await updateTask(ctx.client, id, { queues: [[1, 2, 3, 4, 5, 6]] }), 400, 'array_too_long', 'queues');
    await assertUnchanged(ctx.client, TASK, before, 'after refusals');
    // the limits hold on updateCase too
    const c = await snapshot(ctx.client, CASE, task.doc.caseId);
    assertError(await updateCase(ctx.client, c.doc._id, { desc: 's'.repeat(101) }), 400, 'string_too_long', 'desc');
    assertError(await updateCase(ctx.client, c.doc._id, { tags: ['1', '2', '3', '4', '5', '6'] }), 400, 'array_too_long', 'tags');
    await assertUnchanged(ctx.client, CASE, c, 'case after refusals');
  });
});

