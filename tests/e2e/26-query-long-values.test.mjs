// Long values in the members the list filters look up (API.md §7: strings up to 64 KiB): an
// assignee id, channel and queue values, custom-field values, a jti. PostgreSQL refuses an index
// entry past ~2.7 KB, and such a write failed whole with 503 there while SQLite stored it; both
// backends must store it and find it by exact value, and not by a value that only shares a long
// prefix with it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { useServer, T } from './lib/env.mjs';
import { assertOk, assertError, caseBody, taskBody } from './lib/client.mjs';
import { tokenFor } from './lib/jwt.mjs';

// random hex: PostgreSQL compresses a long index entry, so a repetitive value would fit
const long = (n) => randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
// the same value but for its last byte
const twin = (v) => `${v.slice(0, -1)}${v.endsWith('0') ? '1' : '0'}`;

describe('26 long values in filtered members', () => {
  const ctx = useServer({
    beforeStart: (c) => c.env.cliJson(['template', 'add', '--stream', c.app.streams[0], '--kind', 'task',
      '--name', 'Notes', '--field', 'code:input', '--field', 'notes:textarea']),
  });
  const total = async (body, opts) => {
    const r = await ctx.client.post('getTasks', body, opts);
    assertOk(r, `getTasks ${JSON.stringify(body).slice(0, 200)}`);
    return r.json.totalResults;
  };

  it('stored on create and update, found by the exact value only', T, async () => {
    const notes = ctx.cfg.taskTemplates.find((t) => t.name === 'Notes');
    assert.ok(notes, 'the Notes template');
    const c = await ctx.client.post('createCase', caseBody(ctx.cfg));
    assertOk(c, 'createCase');
    const agent = long(3000);
    const channel = long(2800);
    const queue = long(6000);
    const queueName = long(4000);
    const code = long(6000);
    const text = long(20000);
    const t = await ctx.client.post('createTask', taskBody(ctx.cfg, c.json, {
      taskTmp: notes._id,
      currAssignee: { _id: agent, name: 'Long Id' },
      channel: [channel, 'chat'],
      queues: [queue, { _id: 'qu-long', name: queueName }],
      fields: [{ metaData: { name: 'code' }, selectedValue: code }, { metaData: { name: 'notes' }, selectedValue: text }],
    }));
    assertOk(t, 'createTask with long values');
    for (const [what, body] of [
      ['agents', { agents: [agent] }],
      ['channel', { channel: [channel] }],
      ['queues (a string)', { queues: [queue] }],
      ['queues (an object\'s name)', { queues: [queueName] }],
      ['customFields (input)', { customFields: [{ name: 'code', value: code }] }],
      ['customFields (textarea)', { customFields: [{ name: 'notes', value: text }] }],
    ]) {
      assert.equal(await total(body), 1, `${what}: the exact value`);
      const near = JSON.parse(JSON.stringify(body));
      const k = Object.keys(near)[0];
      if (k === 'customFields') near[k][0].value = twin(near[k][0].value);
      else near[k][0] = twin(near[k][0]);
      assert.equal(await total(near), 0, `${what}: a value that differs in its last byte`);
    }
    assert.equal(await total({ mytask: true }, { claims: { sub: agent } }), 1, 'mytask with the long id as sub');

    const agent2 = long(2900);
    const u = await ctx.client.post(`updateTask/${t.json._id}`, { currAssignee: { _id: agent2 }, channel: [twin(channel)], fields: [{ metaData: { name: 'code' }, selectedValue: twin(code) }] });
    assertOk(u, 'updateTask with long values');
    assert.equal(u.json.currAssignee._id, agent2, 'the document keeps the value as it is');
    assert.equal(await total({ agents: [agent] }), 0, 'the old assignee');
    assert.equal(await total({ agents: [agent2] }), 1, 'the new assignee');
    assert.equal(await total({ channel: [twin(channel)] }), 1);
    assert.equal(await total({ customFields: [{ name: 'code', value: twin(code) }] }), 1);
    assert.equal(await total({ customFields: [{ name: 'code', value: code }] }), 0);
  });

  it('a long jti is recorded like a short one: its replay is refused', T, async () => {
    const app = await ctx.env.createApp({ account: ctx.app.account, streams: [ctx.app.streams[0]], enforceJti: true });
    const jc = ctx.server.client(app);
    const token = tokenFor(app, { jti: long(3000), exp: Math.floor(Date.now() / 1000) + 600 });
    assertOk(await jc.post('getTasks', {}, { token }), 'first use');
    assertError(await jc.post('getTasks', {}, { token }), 401, 'unauthorized');
    const other = tokenFor(app, { jti: long(3000), exp: Math.floor(Date.now() / 1000) + 600 });
    assertOk(await jc.post('getTasks', {}, { token: other }), 'another long jti');
  });
});

describe('26 the longest name --max-name allows (1536 bytes)', () => {
  const ctx = useServer({ serverArgs: ['--max-name', '1536'] });

  it('is stored, and sorted by, on both backends', T, async () => {
    // random text, and text that grows by half when lower-cased (U+023A: 2 bytes, U+2C65: 3)
    const names = [long(1536), 'Ⱥ'.repeat(768), Array.from({ length: 768 }, (_, i) => ((i * 7919) % 3 ? 'Ⱥ' : 'Ⱦ')).join('')];
    for (const name of names) assert.equal(Buffer.byteLength(name), 1536);
    const c = await ctx.client.post('createCase', caseBody(ctx.cfg, { name: names[0] }));
    assertOk(c, 'createCase with a 1536-byte name');
    for (const name of names.slice(1)) {
      assertOk(await ctx.client.post('createTask', taskBody(ctx.cfg, c.json, { name })), 'createTask');
    }
    assertOk(await ctx.client.post(`updateCase/${c.json._id}`, { name: long(1536) }), 'updateCase');
    const r = await ctx.client.post('getTasks', { sortBy: { name: 'asc' } });
    assertOk(r);
    assert.deepEqual(r.json.results.map((d) => d.name), [names[1], names[2]].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
  });
});

describe('26 long search texts', () => {
  const ctx = useServer();
  const search = async (endpoint, body, what) => {
    const r = await ctx.client.post(endpoint, body);
    assertOk(r, `${endpoint} ${what}`);
    return r.json.results.map((d) => d.name);
  };

  it('are answered, on both backends, however long and whatever they hold', T, async () => {
    // PostgreSQL cut a searchText at 63 bytes for its refId comparison, inside an 'é', and
    // refused the parameter (503); SQLite refused a GLOB pattern past 50,000 bytes (503 "pattern
    // too complex": 16,667 escaped '*', or 64 KiB on a name still queued for the name index)
    const c = await ctx.client.post('createCase', caseBody(ctx.cfg, { name: 'stars ***?[x] and more' }));
    assertOk(c, 'createCase');
    const t = await ctx.client.post('createTask', taskBody(ctx.cfg, c.json, { name: `${'a'.repeat(62)}é then more` }));
    assertOk(t, 'createTask');
    const texts = [
      ['62 a and an é', `${'a'.repeat(62)}é`, [t.json.name]],
      ['61 a and an é', `${'a'.repeat(61)}é`, [t.json.name]],
      ['16,667 *', '*'.repeat(16667), []],
      ['16,667 ?', '?'.repeat(16667), []],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [what, text, found] of texts) {
        const want = round === 0 ? found : []; // the task is renamed after the first round
        assert.deepEqual(await search('getTasks', { searchText: text }, what), want, `searchText ${what}`);
        assert.deepEqual(await search('getTasks', { name: text }, what), want, `name ${what}`);
        assert.deepEqual(await search('getCases', { searchText: text }, what), [], `getCases searchText ${what}`);
      }
      // a plain text past GLOB's 50,000 bytes (the names just written are still queued for the
      // name index in the second round); once a round: an ASan build takes seconds over it
      assert.deepEqual(await search('getTasks', { searchText: 'x'.repeat(50001) }, '50,001 x'), [], 'searchText 50,001 x');
      // GLOB's special characters are plain text in a search, on the rows and in the queue alike
      for (const text of ['***?[x]', '*', '?[', 's ***']) {
        assert.deepEqual(await search('getCases', { searchText: text }, text), [c.json.name], `searchText ${text}`);
      }
      // again with the names just written, still queued for the name index (SQLite)
      assertOk(await ctx.client.post(`updateTask/${t.json._id}`, { name: `renamed ${round}` }), 'rename the task');
      assertOk(await ctx.client.post(`updateCase/${c.json._id}`, { name: `stars ***?[x] and more ${round}` }), 'rename the case');
      c.json.name = `stars ***?[x] and more ${round}`;
    }
  });
});
