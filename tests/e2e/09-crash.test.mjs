// Crash consistency (issues 6 and 7): clients update tasks as fast as they can and record every
// acknowledged write; the server is killed with SIGKILL at random moments and restarted. Every
// acknowledged write must be there afterwards, nothing half-written may appear, every stored
// change has its activity, and the SQLite file passes PRAGMA integrity_check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Env, sleep } from './lib/env.mjs';
import { caseBody, taskBody } from './lib/client.mjs';

const CYCLES = Number(process.env.CASEMGR_CRASH_CYCLES ?? 50);
const TASKS = 8;
const WRITERS = 16;
// SQLite checkpoints every 64 pages of WAL, so that kills land in them too: at the default
// (8,000) this file's ~7,000 writes made none.
const SERVER_ARGS = ['--checkpoint-pages', '64'];

const versionOf = (r) => Number(/"(\d+)"/.exec(r.headers.get('etag') ?? '')?.[1] ?? NaN);

/** Reads every task back (a no-op update answers the stored document and its ETag). */
async function readBack(client, tasks) {
  const out = new Map();
  for (const id of tasks) {
    const r = await client.post(`updateTask/${id}`, {});
    assert.equal(r.status, 200, `read back ${id}: ${r.text}`);
    out.set(id, { doc: r.json, version: versionOf(r) });
  }
  return out;
}

function check(state, acked, sent, cycle) {
  for (const [id, { doc, version }] of state) {
    const a = acked.get(id);
    if (a) {
      assert.ok(version >= a.version, `cycle ${cycle}: ${id} at version ${version}, but version ${a.version} was acknowledged`);
      if (version === a.version) assert.equal(doc.desc, a.value, `cycle ${cycle}: ${id} lost its acknowledged desc`);
    }
    if (version > 1) assert.ok(sent.get(id)?.has(doc.desc), `cycle ${cycle}: ${id} holds a desc nobody sent: ${doc.desc}`);
    assert.equal(doc.activityIds.length, version - 1, `cycle ${cycle}: ${id}: one activity per stored change`);
    const field = doc.fields.find((f) => f.metaData?.name === 'description');
    assert.equal(field.selectedValue, doc.desc, `cycle ${cycle}: ${id}: the document is consistent`);
  }
}

test(`kill -9 under load, ${CYCLES} times: nothing acknowledged is lost`, { timeout: 600_000 }, async () => {
  const env = await Env.create();
  try {
    const app = await env.createApp();
    const cfg = await env.streamConfig(app.streams[0]);
    let server = await env.startServer(SERVER_ARGS);
    let client = server.client(app);
    const theCase = (await client.createCase(caseBody(cfg))).json;
    const tasks = [];
    for (let i = 0; i < TASKS; i++) tasks.push((await client.createTask(taskBody(cfg, theCase))).json._id);
    const acked = new Map(); // task -> highest acknowledged {version, value}
    const sent = new Map(); // task -> every desc ever sent
    let acks = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      if (cycle > 0) {
        server = await env.startServer(SERVER_ARGS);
        client = server.client(app);
      }
      check(await readBack(client, tasks), acked, sent, cycle);
      let running = true;
      const writer = async (w) => {
        for (let n = 0; running; n++) {
          const id = tasks[(w + n) % TASKS];
          const value = `c${cycle}-w${w}-n${n}`;
          if (!sent.has(id)) sent.set(id, new Set());
          sent.get(id).add(value);
          let r;
          try {
            r = await client.post(`updateTask/${id}`, { desc: value }, { timeout: 5000 });
          } catch {
            return; // the server is gone: this write was not acknowledged
          }
          if (r.status !== 200) {
            assert.ok(!running || r.status >= 500, `unexpected ${r.status}: ${r.text}`);
            continue;
          }
          acks++;
          const v = versionOf(r);
          if (!(acked.get(id)?.version >= v)) acked.set(id, { version: v, value });
        }
      };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
      await sleep(50 + Math.floor(Math.random() * 250));
      server.signal('SIGKILL');
      await server.exitPromise;
      running = false;
      await Promise.all(writers);
    }
    server = await env.startServer(SERVER_ARGS);
    client = server.client(app);
    check(await readBack(client, tasks), acked, sent, CYCLES);
    assert.ok(acks > CYCLES, `the load was real: ${acks} acknowledged writes`);
    await server.stop();
    if (env.db.startsWith('sqlite:')) {
      const out = execFileSync('sqlite3', [env.db.slice(7), 'PRAGMA integrity_check'], { encoding: 'utf8' });
      assert.equal(out.trim(), 'ok');
    }
    console.log(`# crash: ${CYCLES} kills, ${acks} acknowledged writes checked`);
  } finally {
    await env.dispose();
  }
});
