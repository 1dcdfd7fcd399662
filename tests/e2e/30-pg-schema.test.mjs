// PostgreSQL only: the schema version row (casemgr_schema) is read back and checked before any
// migration runs. A negative version once indexed the migration table with it; it must be
// refused with a message instead. Migration 5 fills the assignee of records whose currAssignee
// names its user by agentId only (the vendor's shape); migration 6 keys long values stored as
// they were (pg_key). Runs in the PostgreSQL leg of `make test` (scripts/pg-test-cluster
// sets CASEMGR_E2E_PG); without it the file fails, never skips.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, PG_URL, T, H, psql, useServer } from './lib/env.mjs';
import { randomBytes } from 'node:crypto';
import { assertOk, assertError, caseBody } from './lib/client.mjs';
import { tokenFor } from './lib/jwt.mjs';

describe('30 PostgreSQL schema version', () => {
  if (!PG_URL) {
    it('needs PostgreSQL: run through `make test` or scripts/pg-test-cluster run -- ... with CASEMGR_E2E_PG', () => {
      assert.fail('CASEMGR_E2E_PG is not set: this file runs only in the PostgreSQL leg');
    });
    return;
  }

  let env;
  before(async () => {
    env = await Env.create();
    await env.createApp(); // creates and migrates the schema
  }, H);
  after(async () => { await env?.dispose(); }, H);

  it('a negative schema version is refused with a message, not run', T, async () => {
    assert.match(await psql(env.db, 'SELECT version FROM casemgr_schema'), /^\d+$/);
    await psql(env.db, 'UPDATE casemgr_schema SET version = -1');
    const r = await env.cli(['app', 'list']);
    assert.equal(r.code, 1, `exit ${r.code}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /invalid \(negative\) schema version/);
    assert.equal(await psql(env.db, 'SELECT version FROM casemgr_schema'), '-1', 'nothing was migrated');
  });
});

describe('30 PostgreSQL migrations 5 and 6: the assignee named by agentId, long values keyed', () => {
  if (!PG_URL) {
    it('needs PostgreSQL: run through `make test` or scripts/pg-test-cluster run -- ... with CASEMGR_E2E_PG', () => {
      assert.fail('CASEMGR_E2E_PG is not set: this file runs only in the PostgreSQL leg');
    });
    return;
  }
  const ctx = useServer();
  // random hex: PostgreSQL compresses a repetitive index entry
  const long = (n) => randomBytes(n / 2).toString('hex');

  it('records and jtis stored before them are found after them', T, async () => {
    const agent = 'u-5e1a0c2d-0000-4000-8000-000000000005';
    const longAgent = long(3000); // past the index's limit as it is: migration 5 must key it
    const raw = { assignee: long(1500), channel: long(1500), queue: long(1500), jti: long(1500) };
    const post = async (body) => {
      const r = await ctx.client.post('createCase', caseBody(ctx.cfg, body));
      assertOk(r, 'createCase');
      return r.json._id;
    };
    const a = await post({ currAssignee: { aId: 'a-5e1a0c2', name: 'Ann', agentId: agent } });
    const b = await post({ currAssignee: { aId: 'a-5e1a0c3', name: 'Bo', agentId: longAgent } });
    const c = await post({ currAssignee: { _id: raw.assignee }, channel: [raw.channel], queues: [raw.queue] });
    const jtiApp = await ctx.env.createApp({ account: ctx.app.account, streams: [ctx.app.streams[0]], enforceJti: true });
    const token = tokenFor(jtiApp, { jti: raw.jti, exp: Math.floor(Date.now() / 1000) + 600 });
    assertOk(await ctx.server.client(jtiApp).post('getCases', {}, { token }), 'the jti used once');
    const found = async (body) => (await ctx.client.post('getCases', body)).json.results.map((d) => d._id);
    const queries = [[{ agents: [agent] }, a], [{ agents: [longAgent] }, b], [{ agents: [raw.assignee] }, c],
      [{ channel: [raw.channel] }, c], [{ queues: [raw.queue] }, c]];
    for (const [q, id] of queries) assert.deepEqual(await found(q), [id], `stored now: ${JSON.stringify(q).slice(0, 60)}`);

    // as older servers stored them: no assignee for agentId-only records (before migration 5),
    // long values as they were (before pg_key); schema version 4
    await psql(ctx.env.db, `UPDATE records SET assignee = NULL WHERE id IN ('${a}', '${b}')`);
    await psql(ctx.env.db, `UPDATE records SET assignee = '${raw.assignee}', facets = ARRAY['ch' || chr(29) || '${raw.channel}',
      'qu' || chr(29) || '${raw.queue}'] WHERE id = '${c}'`);
    await psql(ctx.env.db, `UPDATE jti SET jti = '${raw.jti}' WHERE client_id = '${jtiApp.clientId}'`);
    await psql(ctx.env.db, 'UPDATE casemgr_schema SET version = 4');
    for (const [q] of queries) assert.deepEqual(await found(q), [], `not found before: ${JSON.stringify(q).slice(0, 60)}`);

    // a command that changes the configuration opens the store and migrates it (one that only
    // reads refuses an older schema)
    const migrateByCli = (name) => ctx.env.cli(['priority', 'add', '--stream', ctx.app.streams[0], '--name', name, '--score', '3']);
    const cli = await migrateByCli('Migrated Once');
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(await psql(ctx.env.db, 'SELECT version FROM casemgr_schema'), '8');
    assert.equal(await psql(ctx.env.db, `SELECT assignee FROM records WHERE id = '${a}'`), agent);
    for (const [q, id] of queries) assert.deepEqual(await found(q), [id], `found after: ${JSON.stringify(q).slice(0, 60)}`);
    assertError(await ctx.server.client(jtiApp).post('getCases', {}, { token }), 401, 'unauthorized');
    // run again on keyed values (a process of the older version that wrote meanwhile): unchanged
    await psql(ctx.env.db, 'UPDATE casemgr_schema SET version = 5');
    assert.equal((await migrateByCli('Migrated Twice')).code, 0);
    for (const [q, id] of queries) assert.deepEqual(await found(q), [id], `after migration 6 again: ${JSON.stringify(q).slice(0, 60)}`);
  });
});

describe('30 PostgreSQL: idempotency keys past their day are purged', () => {
  if (!PG_URL) {
    it('needs PostgreSQL: run through `make test` or scripts/pg-test-cluster run -- ... with CASEMGR_E2E_PG', () => {
      assert.fail('CASEMGR_E2E_PG is not set: this file runs only in the PostgreSQL leg');
    });
    return;
  }
  const ctx = useServer();

  it('a keyed create deletes the keys older than 24 h (migration 7 indexes them by age)', T, async () => {
    // each key kept a copy of its answer, and none was ever deleted
    const hour = 3600 * 1000;
    const row = (key, age) => `('${ctx.app.clientId}', '${key}', 'h', 200, '{}', ${Date.now() - age})`;
    await psql(ctx.env.db, `INSERT INTO idempotency (client_id, key, body_hash, status, body, created_at) VALUES
      ${row('k-old-1', 30 * hour)}, ${row('k-old-2', 25 * hour)}, ${row('k-young', 23 * hour)}`);
    assert.match(await psql(ctx.env.db, "SELECT indexdef FROM pg_indexes WHERE indexname = 'idempotency_created'"), /created_at/);
    const r = await ctx.client.post('createCase', caseBody(ctx.cfg), { headers: { 'Idempotency-Key': 'k-new' } });
    assertOk(r, 'a keyed createCase');
    const keys = await psql(ctx.env.db, `SELECT string_agg(key, ',' ORDER BY key) FROM idempotency WHERE client_id = '${ctx.app.clientId}'`);
    assert.equal(keys, 'k-new,k-young');
  });
});

describe('30 PostgreSQL migration 8: the catalog version', () => {
  if (!PG_URL) {
    it('needs PostgreSQL: run through `make test` or scripts/pg-test-cluster run -- ... with CASEMGR_E2E_PG', () => {
      assert.fail('CASEMGR_E2E_PG is not set: this file runs only in the PostgreSQL leg');
    });
    return;
  }
  // one I/O thread and one worker: every request authenticates on the thread whose cache holds
  // the token it verified first
  const ctx = useServer({ serverArgs: ['--threads', '1', '--workers', '1'] });

  it('a verified token\'s app is read again only when the version moved; a revocation moves it', T, async () => {
    const db = ctx.env.db;
    const version = () => psql(db, 'SELECT v FROM catalog_version');
    // one token throughout: the client mints a new one per request by default, and a token
    // signed a second later is another token, verified anew
    const token = ctx.client.token();
    const get = () => ctx.client.post('getTasks', {}, { token });
    assertOk(await get(), 'verified and cached');
    // revoked behind the version's back: the app verified before is still the one taken
    const v0 = await version();
    await psql(db, 'ALTER TABLE apps DISABLE TRIGGER apps_catalog;'
      + ` UPDATE apps SET doc = (doc::jsonb || '{"revoked": true}')::json WHERE client_id = '${ctx.app.clientId}';`
      + ' ALTER TABLE apps ENABLE TRIGGER apps_catalog;');
    assert.equal(await version(), v0, 'the trigger was off');
    assertOk(await get(), 'the version did not move');
    await psql(db, 'UPDATE catalog_version SET v = v + 1');
    assertError(await get(), 401, 'unauthorized'); // read again: revoked
    // through the trigger, as the CLI writes: the version moves with the write
    const v1 = await version();
    await psql(db, `UPDATE apps SET doc = (doc::jsonb || '{"revoked": false}')::json WHERE client_id = '${ctx.app.clientId}'`);
    assert.notEqual(await version(), v1, 'an app written');
    assertOk(await get(), 'unrevoked, seen at once');
    const v2 = await version();
    const r = await ctx.env.cli(['stream', 'show', '--stream', ctx.app.streams[0]]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await version(), v2, 'a read moves nothing');
  });
});
