// PostgreSQL only: the schema version row (casemgr_schema) is read back and checked before any
// migration runs. A negative version once indexed the migration table with it; it must be
// refused with a message instead. Migration 5 fills the assignee of records whose currAssignee
// names its user by agentId only (the vendor's shape). Runs in the PostgreSQL leg of `make test` (scripts/pg-test-cluster
// sets CASEMGR_E2E_PG); without it the file fails, never skips.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, PG_URL, T, H, psql, useServer } from './lib/env.mjs';
import { assertOk, caseBody } from './lib/client.mjs';

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

describe('30 PostgreSQL migration 5: the assignee named by agentId', () => {
  if (!PG_URL) {
    it('needs PostgreSQL: run through `make test` or scripts/pg-test-cluster run -- ... with CASEMGR_E2E_PG', () => {
      assert.fail('CASEMGR_E2E_PG is not set: this file runs only in the PostgreSQL leg');
    });
    return;
  }
  const ctx = useServer();

  it('a record stored before it (assignee column empty) is found by agents[] after it', T, async () => {
    const agent = 'u-5e1a0c2d-0000-4000-8000-000000000005';
    const r = await ctx.client.post('createCase', caseBody(ctx.cfg, { currAssignee: { aId: 'a-5e1a0c2', name: 'Ann', agentId: agent } }));
    assertOk(r, 'createCase');
    const find = async () => (await ctx.client.post('getCases', { agents: [agent] })).json.totalResults;
    assert.equal(await find(), 1, 'stored now with the assignee');
    // as an older server stored it: no assignee column, schema version 4
    await psql(ctx.env.db, `UPDATE records SET assignee = NULL WHERE id = '${r.json._id}'`);
    await psql(ctx.env.db, 'UPDATE casemgr_schema SET version = 4');
    assert.equal(await find(), 0);
    const cli = await ctx.env.cli(['app', 'list']); // opens the store: migrates
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(await psql(ctx.env.db, `SELECT assignee FROM records WHERE id = '${r.json._id}'`), agent);
    assert.equal(await find(), 1);
  });
});
