// SQLite only (docs/operations.md §8): a backup taken with `sqlite3 DB "VACUUM INTO 'copy'"`
// while the server writes holds every write acknowledged before it began, and the copy, with the
// key file beside it, starts and serves. (A plain cp of the database misses the writes still in
// the -wal file.) Runs in the SQLite leg of `make test` only.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Env, PG_URL, pool } from './lib/env.mjs';
import { caseBody, taskBody, assertOk } from './lib/client.mjs';
import { updateTask } from './lib/update.mjs';

const run = promisify(execFile);
const TASKS = 8;

describe('44 SQLite: a backup with VACUUM INTO while the server writes', () => {
  if (PG_URL) {
    it('is a SQLite test: it runs in the SQLite leg', () => {
      assert.fail('CASEMGR_E2E_PG is set: this file runs only in the SQLite leg');
    });
    return;
  }
  let env;
  after(async () => { await env?.dispose(); });

  it('holds every write acknowledged before it began, and the copy serves with its key file', { timeout: 120_000 }, async () => {
    env = await Env.create();
    const app = await env.createApp();
    const cfg = await env.streamConfig(app.streams[0]);
    const server = await env.startServer(['--workers', '8']);
    const client = server.client(app);
    const theCase = (await client.createCase(caseBody(cfg))).json;
    const tasks = await pool(TASKS, 4, async () => {
      const r = await client.createTask(taskBody(cfg, theCase));
      assertOk(r, 'createTask');
      return r.json._id;
    });
    const acked = new Map(tasks.map((id) => [id, 0]));
    let writing = true;
    const writers = tasks.map(async (id) => {
      for (let n = 1; writing; n++) {
        const r = await updateTask(client, id, { desc: `v${n}` });
        assertOk(r, `update ${id} to v${n}`);
        acked.set(id, n);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const before = new Map(acked);
    const file = env.db.slice('sqlite:'.length);
    const copy = join(env.dir, 'backup.db');
    await run('sqlite3', [file, `VACUUM INTO '${copy}'`]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    writing = false;
    await Promise.all(writers);
    assert.ok([...before.values()].every((n) => n > 0), 'every task was updated before the backup');
    copyFileSync(`${file}.key`, `${copy}.key`);

    const restored = await env.startServer(['--db', `sqlite:${copy}`], { withDbOption: false });
    const rc = restored.client(app);
    for (const [id, n] of before) {
      const r = await rc.post('getTasks', { caseId: theCase._id, limit: 50 });
      assertOk(r, 'getTasks on the copy');
      const doc = r.json.results.find((d) => d._id === id);
      assert.ok(doc, `${id} is in the copy`);
      const held = Number(doc.desc.slice(1));
      assert.ok(held >= n, `${id}: the copy holds v${held}, v${n} was acknowledged before the backup began`);
      assert.ok(held <= acked.get(id) + 1, `${id}: v${held} no later than what was sent`);
    }
    assertOk(await rc.post(`updateTask/${tasks[0]}`, { desc: 'after the restore' }), 'the copy takes writes');
  });
});
