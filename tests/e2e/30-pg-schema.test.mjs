// PostgreSQL only: the schema version row (casemgr_schema) is read back and checked before any
// migration runs. A negative version once indexed the migration table with it; it must be
// refused with a message instead. Runs in the PostgreSQL leg of `make test` (scripts/pg-test-cluster
// sets CASEMGR_E2E_PG); without it the file fails, never skips.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, PG_URL, T, H, psql } from './lib/env.mjs';

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
