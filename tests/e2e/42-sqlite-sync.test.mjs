// SQLite only (DESIGN.md §4, issue 7): a 200 to a write means the write was on disk before the
// answer. strace, attached to the running server, records every WAL write, every sync and every
// client socket read and write; for each acknowledged updateTask the trace must show the
// request arriving, its value written to the WAL, a successful fsync/fdatasync of the WAL, and
// only then the 200. The same run with --durability normal (no sync per commit) must fail that
// check, so the check can fail. Runs in the SQLite leg of `make test` only.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Env, PG_URL, pool, H } from './lib/env.mjs';
import { caseBody, taskBody, assertOk } from './lib/client.mjs';
import { attachStrace, readTrace, checkSyncedBeforeAnswer } from './lib/strace.mjs';

const TASKS = 4; // updated concurrently, so commits group several writes
const UPDATES = 6; // per task, one after another

/**
 * Starts a server with the given durability, traces UPDATES updates of each of TASKS tasks and
 * returns the result of the check with what was acknowledged.
 */
async function traceUpdates(env, durability) {
  const app = await env.createApp();
  const cfg = await env.streamConfig(app.streams[0]);
  const server = await env.startServer(['--durability', durability, '--workers', '8']);
  const client = server.client(app);
  const theCase = (await client.createCase(caseBody(cfg))).json;
  const tasks = [];
  for (let i = 0; i < TASKS; i++) {
    const r = await client.createTask(taskBody(cfg, theCase));
    assertOk(r, 'createTask');
    tasks.push(r.json._id);
  }
  const file = join(env.dir, `strace-${durability}.txt`);
  const strace = await attachStrace(server.proc.pid, file);
  const acked = [];
  try {
    const tag = randomBytes(4).toString('hex');
    await pool(TASKS, TASKS, async (t) => {
      for (let n = 0; n < UPDATES; n++) {
        const value = `synced-${tag}-${t}-${n}-end`;
        const r = await client.post(`updateTask/${tasks[t]}`, { desc: value }, { timeout: 20_000 });
        assertOk(r, `updateTask ${value}`);
        acked.push(value);
      }
    });
  } finally {
    const r = await strace.stop();
    assert.ok(!r.killed && (r.code === 0 || r.signal === 'SIGINT'), `strace did not detach cleanly (${JSON.stringify(r)}): ${strace.stderr().slice(-1000)}`);
  }
  assert.ok(!server.exited, 'the server runs on after strace detached');
  await server.stop();
  const calls = readTrace(file);
  return { acked, calls, ...checkSyncedBeforeAnswer(calls, acked) };
}

describe('42 SQLite: every acknowledged write was synced before its 200 (strace)', () => {
  if (PG_URL) {
    it('needs SQLite: this file runs in the SQLite leg of `make test`', () => {
      assert.fail('CASEMGR_E2E_PG is set: this file checks the SQLite WAL');
    });
    return;
  }

  const envs = [];
  after(async () => {
    for (const env of envs) await env.dispose(); // stops the servers (SIGKILL after 5 s)
  }, H);

  it('--durability full: the WAL is synced between each write and its 200', { timeout: 60_000 }, async () => {
    const env = await Env.create();
    envs.push(env);
    const { acked, calls, checked, failures } = await traceUpdates(env, 'full');
    assert.equal(checked, TASKS * UPDATES);
    const syncs = calls.filter((c) => /^f(data)?sync$/.test(c.name) && c.path.endsWith('-wal')).length;
    assert.deepEqual(failures, [], `${failures.length} of ${acked.length} acknowledged writes were not synced first`);
    // group commit: fewer syncs than writes is fine, none at all is not
    assert.ok(syncs > 0 && syncs <= acked.length + 2, `${syncs} WAL syncs for ${acked.length} writes`);
    // SQLite writes its files with pwrite64 only: what 43-sqlite-faults makes fail
    const walWrites = calls.filter((c) => c.path.endsWith('-wal') && /write/.test(c.name));
    assert.ok(walWrites.length > 0 && walWrites.every((c) => c.name === 'pwrite64'),
      `WAL writes by ${[...new Set(walWrites.map((c) => c.name))].join(', ')}`);
    console.log(`# synced before 200: ${checked} acknowledged writes checked, ${syncs} WAL syncs`);
  });

  it('--durability normal: the same check fails (no sync per commit)', { timeout: 60_000 }, async () => {
    const env = await Env.create();
    envs.push(env);
    const { acked, checked, failures } = await traceUpdates(env, 'normal');
    assert.equal(checked, TASKS * UPDATES);
    assert.equal(failures.length, acked.length, `every write should lack a sync, ${failures.length} of ${acked.length} did`);
    assert.ok(failures.every((f) => /no WAL sync in between/.test(f.why)), JSON.stringify(failures.slice(0, 3)));
  });

  // Checkpoints copy the WAL into the database file once it has grown by --checkpoint-pages
  // (8,000 by default) past the last copy. 40 tasks write a few hundred pages: with 64 the file
  // grows as they are copied, with the default it keeps its size (all of it is in the WAL).
  it('--checkpoint-pages: the WAL is copied into the database file once it has grown that much', { timeout: 60_000 }, async () => {
    const grown = async (args) => {
      const env = await Env.create();
      envs.push(env);
      const app = await env.createApp();
      const cfg = await env.streamConfig(app.streams[0]);
      const server = await env.startServer(args);
      const client = server.client(app);
      const file = env.db.slice('sqlite:'.length);
      const before = statSync(file).size;
      const theCase = (await client.createCase(caseBody(cfg))).json;
      for (let i = 0; i < 40; i++) assertOk(await client.createTask(taskBody(cfg, theCase)), 'createTask');
      let after = statSync(file).size;
      for (let waited = 0; after === before && waited < 3000; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100)); // the checkpointer runs apart
        after = statSync(file).size;
      }
      const wal = statSync(`${file}-wal`).size;
      await server.stop('SIGKILL'); // no checkpoint at close: the file holds what checkpoints copied
      return { before, after, wal };
    };
    const often = await grown(['--checkpoint-pages', '64']);
    assert.ok(often.wal > 64 * 4096, `the WAL held ${often.wal} bytes: too few writes to tell`);
    assert.ok(often.after > often.before, `--checkpoint-pages 64: the database file stayed at ${often.before} bytes`);
    const seldom = await grown([]);
    assert.ok(seldom.wal > 64 * 4096, `the WAL held ${seldom.wal} bytes`);
    assert.equal(seldom.after, seldom.before, 'the default: no checkpoint before 8,000 pages of WAL');
  });
});
