// SQLite only (issue 7): injected faults under load, with libfiu. The server runs under
// `fiu-run -x` (libfiu's POSIX and libc wrappers preloaded) while writers update their own task
// as fast as they can; through libfiu's remote control the test makes, one at a time, a write of
// the database files fail (pwrite, pwrite64: all of SQLite's writes; the WAL at each commit, the
// database during checkpoints), an fsync/fdatasync fail, a read of the database fail (pread),
// and an allocation fail inside SQLite (malloc, calloc or realloc while sqlite3_step runs).
//
// What is acceptable: the server stays up; a request a fault hit is answered 503 with the error
// envelope (the store reports the error; SQLite rolls the transaction back and its connection
// works again at the next one); every other answer is right. Never a 200 for a write whose
// commit failed, never a crash, never a hang: once the faults stop every writer is answered 200
// again within seconds. A failed sync is the exception, and its phase comes last: the kernel may
// have dropped the data and says so once (a later sync succeeds without it), so from the first
// one every write is refused (503) and /readyz fails until a restart (mark_broken in
// store_sqlite.c); no write sent after it is answered 200. Afterwards, restarted without faults,
// every acknowledged write is in the task's history at exactly the version its 200 gave, each
// stored change has its activity, and PRAGMA integrity_check is ok.
//
// Not injected: allocation failures in casemgr's own code and in jansson, which abort through
// mem_oom() by design (STYLE.md, habit 7); write() and writev(), which SQLite never calls (the
// trace of 42-sqlite-sync shows every WAL write is a pwrite64) and which here only carry log
// lines, whose loss is ignored, and libmicrohttpd's wake-ups.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { BIN, Env, PG_URL, ids, sleep, H } from './lib/env.mjs';
import { caseBody, taskBody, assertOk, request } from './lib/client.mjs';
import { etagVersion, getActivities, snapshot, TASK } from './lib/update.mjs';
import { asanRuntime, fiuServer, fiuControl } from './lib/fiu.mjs';

const WRITERS = 6;
const PHASE_MS = Number(process.env.CASEMGR_FAULT_PHASE_MS ?? 2500);
const OBSERVE_MS = 400; // how long an armed fault gets to show in the server's log
const RECOVER_MS = 5_000;

/**
 * One kind of fault: arm makes the next matching call fail once (libfiu's onetime), the I/O
 * ones with EIO (failinfo is the errno; without it libfiu picks one at random, EINTR included,
 * which SQLite retries).
 */
const KINDS = [
  { kind: 'pwrite', what: 'a write of the WAL or the database file', arm: 'enable name=posix/io/rw/pwrite,onetime,failinfo=5', point: 'posix/io/rw/pwrite' },
  { kind: 'pread', what: 'a read of the database', arm: 'enable name=posix/io/rw/pread,onetime,failinfo=5', point: 'posix/io/rw/pread' },
  { kind: 'malloc', what: 'an allocation inside sqlite3_step', arm: 'enable_stack_by_name name=libc/mm/*,func_name=sqlite3_step,onetime', point: 'libc/mm/*' },
  // last: after it writes are refused until a restart
  { kind: 'fsync', what: 'an fsync or fdatasync', arm: 'enable name=posix/io/sync/*,onetime,failinfo=5', point: 'posix/io/sync/*', final: true },
];

// make test-asan: ASan's allocator comes before libfiu's, allocations cannot be made to fail
const kinds = asanRuntime(BIN) ? KINDS.filter((k) => k.kind !== 'malloc') : KINDS;

const isUnavailable = (r) => r.status === 503 && r.json?.errors?.[0]?.reason === 'unavailable';

/** Lines the server logged as errors so far. */
const errorLines = (server) => (server.stderrText.match(/ casemgr error: /g) ?? []).length;

async function waitUntil(pred, ms) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** Every activity of a record, oldest first. */
async function history(client, id) {
  const out = [];
  for (let skip = 0; ; skip += 500) {
    const r = await getActivities(client, id, { skip, limit: 500 });
    assertOk(r, `getActivities ${id}`);
    out.push(...r.json.results);
    if (!r.json.hasMore) break;
  }
  return out.reverse();
}

describe('43 SQLite under injected faults (libfiu): no crash, no 200 for a failed commit, nothing acknowledged lost', () => {
  if (PG_URL) {
    it('needs SQLite: this file runs in the SQLite leg of `make test`', () => {
      assert.fail('CASEMGR_E2E_PG is set: this file injects faults into SQLite\'s file I/O');
    });
    return;
  }

  const ctx = {};
  before(async () => {
    ctx.env = await Env.create();
    ctx.app = await ctx.env.createApp({ org: ids.org() });
    ctx.cfg = await ctx.env.streamConfig(ctx.app.streams[0]);
    ctx.fifo = join(ctx.env.dir, 'fiu');
    ctx.server = await ctx.env.startServer(['--workers', '16'], fiuServer(ctx.fifo, BIN, ctx.env.dir));
    ctx.client = ctx.server.client(ctx.app);
    ctx.control = async (command) => {
      try {
        await fiuControl(ctx.fifo, ctx.server.proc.pid, command);
      } catch (e) {
        const { exited } = ctx.server;
        if (exited) e.message += `\nthe server had exited (code ${exited.code}, signal ${exited.signal})`;
        e.message += `\nthe server's stderr: ${ctx.server.stderrTail()}`;
        throw e;
      }
    };
    ctx.theCase = (await ctx.client.createCase(caseBody(ctx.cfg))).json;
    assert.ok(ctx.theCase?._id, 'the case');
  }, H);
  after(async () => { await ctx.env?.dispose(); }, H);

  it('one Idempotency-Key from 16 clients at once while every commit fails: no 200', { timeout: 60_000 }, async () => {
    // The first write with the key creates the task in the group's transaction; the others,
    // in the same group, find that answer and replay it. When the group cannot commit, the
    // replays are of a task that never existed: they too must be 503 (this was a bug).
    const { client, control } = ctx;
    const tally = {};
    await control('enable name=posix/io/rw/pwrite,failinfo=5'); // every write of the WAL fails
    const keys = [];
    try {
      for (let round = 0; round < 5; round++) {
        const key = randomUUID();
        keys.push(key);
        const body = taskBody(ctx.cfg, ctx.theCase, { name: `idempotent ${round}` });
        const answers = await Promise.all(Array.from({ length: 16 }, () => client.createTask(body, { headers: { 'Idempotency-Key': key } })));
        for (const r of answers) {
          tally[r.status] = (tally[r.status] ?? 0) + 1;
          if (r.status !== 503) assert.fail(`round ${round}: HTTP ${r.status} while no commit can succeed: ${r.text.slice(0, 300)}`);
          assert.ok(isUnavailable(r), r.text);
        }
      }
    } finally {
      await control('disable name=posix/io/rw/pwrite');
    }
    // nothing was stored: the key creates its task now, once
    for (const key of keys) {
      const body = taskBody(ctx.cfg, ctx.theCase, { name: 'after the faults' });
      const first = await client.createTask(body, { headers: { 'Idempotency-Key': key } });
      assertOk(first, 'createTask after the faults');
      const again = await client.createTask(body, { headers: { 'Idempotency-Key': key } });
      assertOk(again, 'its replay');
      assert.equal(again.json._id, first.json._id);
    }
    console.log(`# faults: idempotent creates while every WAL write failed: ${JSON.stringify(tally)}`);
  });

  it('an allocation failing in casemgr\'s own parts of SQLite (WAL buffer, page cache) fails one statement at most, never the process', { timeout: 60_000 }, async (t) => {
    if (asanRuntime(BIN)) {
      t.skip('ASan\'s allocator comes before libfiu\'s: allocations cannot be made to fail');
      return;
    }
    // A server of its own: its writer has not written yet, so the WAL buffer (walbuf.c) is
    // allocated by the first commit, inside sqlite3_step. That allocation aborted the process
    // through mem_oom; the commit now writes its frames one by one instead, and succeeds.
    const env = await Env.create();
    try {
      const app = await env.createApp({ org: ids.org() });
      const cfg = await env.streamConfig(app.streams[0]);
      const fifo = join(env.dir, 'fiu');
      const server = await env.startServer([], fiuServer(fifo, BIN, env.dir));
      const control = (command) => fiuControl(fifo, server.proc.pid, command);
      const client = server.client(app);
      await control('enable_stack_by_name name=libc/mm/*,func_name=sqlite3WalFrames,onetime');
      const first = await client.createCase(caseBody(cfg)).catch((e) => ({ status: 0, text: e.message }));
      await sleep(100); // a process that aborted is seen gone
      assert.ok(!server.exited, `the server exited at its first commit (code ${server.exited?.code}, signal ${server.exited?.signal})\n${server.stderrTail()}`);
      assertOk(first, 'the first commit, its WAL buffer not allocated');
      await control('disable name=libc/mm/*');

      // A statement's temporary tables (a query's, an update's RETURNING rows, those a new
      // connection creates) get a page cache, created inside sqlite3_step by pagecache.c, whose
      // own allocation comes first: failing it is that statement's 503. The old order (SQLite's
      // allocation, then casemgr's) aborted when the fault came between the two: the malloc
      // phase below hit it now and then. getActivities runs on a worker, which opens its
      // connection for it (the writes and lists so far ran on the I/O threads' connections).
      const seen = errorLines(server);
      await control('enable_stack_by_name name=libc/mm/*,func_name=sqlite3PcacheSetPageSize,onetime');
      const failed = await getActivities(client, first.json._id, {}).catch((e) => ({ status: 0, text: e.message }));
      await sleep(100);
      assert.ok(!server.exited, `the server exited when a page cache could not be allocated\n${server.stderrTail()}`);
      assert.ok(isUnavailable(failed), `getActivities whose page cache cannot be allocated: HTTP ${failed.status} ${failed.text.slice(0, 200)}`);
      assert.ok(errorLines(server) > seen, 'the failed allocation is in the server\'s log');
      await control('disable name=libc/mm/*');
      assertOk(await client.post('getTasks', { limit: 5 }), 'getTasks after the fault');
      assert.equal((await client.post('getCases', {})).json?.results?.[0]?._id, first.json._id, 'the first case is stored');
    } finally {
      await env.dispose();
    }
  });

  it('faults of each kind under load, then a restart without faults', { timeout: 120_000 }, async () => {
    const { client, server } = ctx;
    const tasks = [];
    for (let w = 0; w < WRITERS; w++) {
      const r = await client.createTask(taskBody(ctx.cfg, ctx.theCase, { name: `writer ${w}` }));
      assertOk(r, 'createTask');
      tasks.push(r.json._id);
    }
    const tag = randomBytes(3).toString('hex');
    const acked = tasks.map(() => []); // per writer: {value, version} of each 200, in order
    const sent = tasks.map(() => new Set());
    const lastOk = new Array(WRITERS).fill(0); // when each writer's latest 200 was sent
    const problems = [];
    const counts = { 200: 0, 503: 0 };
    const phaseOf = new Map(); // value -> the kind of fault armed when it was sent
    let current = 'none';
    let running = true;
    const writer = async (w) => {
      for (let n = 0; running; n++) {
        const value = `${tag}-w${w}-n${n}`;
        sent[w].add(value);
        phaseOf.set(value, current);
        const t0 = Date.now();
        let r;
        try {
          r = await client.post(`updateTask/${tasks[w]}`, { desc: value }, { timeout: 10_000 });
        } catch (e) {
          problems.push(`writer ${w}: ${value}: no answer (${e.message})`);
          if (server.exited) return;
          continue;
        }
        if (r.status === 200) {
          counts[200]++;
          const version = etagVersion(r);
          const prev = acked[w].at(-1);
          if (r.json?.desc !== value) problems.push(`writer ${w}: 200 for ${value} answers desc ${r.json?.desc}`);
          if (prev && !(version > prev.version)) problems.push(`writer ${w}: ${value} acknowledged at version ${version} after ${prev.value} at ${prev.version}`);
          acked[w].push({ value, version });
          lastOk[w] = t0;
        } else if (isUnavailable(r)) {
          counts[503]++;
        } else {
          problems.push(`writer ${w}: ${value}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    const report = [];
    try {
      for (const k of kinds) {
        const phase = { kind: k.kind, what: k.what, armed: 0, observed: 0, before: { ...counts }, storedDespite503: 0 };
        current = k.kind;
        const end = Date.now() + PHASE_MS;
        let firstSeen = 0;
        while (Date.now() < end && !server.exited) {
          const seen = errorLines(server);
          await ctx.control(k.arm);
          phase.armed++;
          if (await waitUntil(() => errorLines(server) > seen, OBSERVE_MS)) {
            phase.observed++;
            firstSeen ||= Date.now();
          }
        }
        await ctx.control(`disable name=${k.point}`);
        current = 'none';
        if (k.final) {
          // refused until a restart: no write sent after the failed sync was acknowledged, and
          // none sent now is
          await sleep(300);
          assert.ok(firstSeen > 0, `${k.kind}: no armed fault showed in the server's log`);
          assert.ok(!server.exited, `the server exited during ${k.kind} faults\n${server.stderrTail()}`);
          assert.ok(lastOk.every((t) => t < firstSeen), `a write sent after the failed sync was answered 200\n${server.stderrTail()}`);
          const after = await client.post(`updateTask/${tasks[0]}`, { desc: `${tag}-after` });
          assert.ok(isUnavailable(after), `a write after the failed sync: HTTP ${after.status} ${after.text.slice(0, 200)}`);
          const ready = await request(`${server.base}/readyz`, { method: 'GET' });
          assert.equal(ready.status, 503, '/readyz after a failed sync');
          assert.match(server.stderrText, /every write is refused \(503\) until casemgr is restarted/);
          phase.ok = counts[200] - phase.before[200];
          phase.unavailable = counts[503] - phase.before[503];
          report.push(phase);
          continue;
        }
        // no hang: every writer is answered 200 again, for a request sent after the faults stopped
        const stopped = Date.now();
        const recovered = await waitUntil(() => server.exited || lastOk.every((t) => t >= stopped), RECOVER_MS);
        assert.ok(!server.exited, `the server exited during ${k.kind} faults (code ${server.exited?.code}, signal ${server.exited?.signal})\n${server.stderrTail()}`);
        assert.ok(recovered, `after ${k.kind} faults some writer got no 200 within ${RECOVER_MS} ms\n${server.stderrTail()}`);
        phase.ok = counts[200] - phase.before[200];
        phase.unavailable = counts[503] - phase.before[503];
        report.push(phase);
      }
    } finally {
      running = false;
      await Promise.all(writers);
    }
    assert.deepEqual(problems, [], 'every answer is a right 200 or a 503');
    for (const k of KINDS.filter((x) => !kinds.includes(x))) console.log(`# faults: ${k.kind} not injected (ASan build)`);
    for (const p of report) {
      assert.ok(p.observed > 0, `${p.kind}: no armed fault showed in the server's log`);
      console.log(`# faults: ${p.kind} (${p.what}): ${p.armed} armed, ${p.observed} seen failing in the server's log; ${p.ok} answers 200, ${p.unavailable} answers 503`);
    }
    const stop = await server.stop();
    assert.deepEqual([stop.code, stop.signal, stop.killed], [0, null, false], `a clean exit after the faults\n${server.stderrTail()}`);

    // restarted without faults: every acknowledged write is stored at its version
    const again = await ctx.env.startServer();
    const c2 = again.client(ctx.app);
    let committedDespite503 = 0;
    for (let w = 0; w < WRITERS; w++) {
      const changes = (await history(c2, tasks[w])).map((a) => a.changes.find((c) => c.field === 'desc'));
      const { doc, version } = await snapshot(c2, TASK, tasks[w]);
      assert.equal(version, changes.length + 1, `writer ${w}: one activity per stored change`);
      assert.equal(doc.activityIds.length, changes.length, `writer ${w}: activityIds`);
      for (let i = 0; i < changes.length; i++) {
        assert.ok(changes[i], `writer ${w}: change ${i + 2} is not of desc`);
        assert.ok(sent[w].has(changes[i].new), `writer ${w}: stored ${changes[i].new}, which nobody sent`);
        if (i > 0) assert.equal(changes[i].old, changes[i - 1].new, `writer ${w}: history chains`);
      }
      assert.equal(doc.desc, changes.at(-1)?.new, `writer ${w}: the document is its last change`);
      const ackedValues = new Set(acked[w].map((a) => a.value));
      for (const c of changes.filter((x) => !ackedValues.has(x.new))) {
        committedDespite503++;
        const p = report.find((x) => x.kind === phaseOf.get(c.new));
        if (p) p.storedDespite503++;
      }
      for (const a of acked[w]) {
        assert.equal(changes[a.version - 2]?.new, a.value, `writer ${w}: ${a.value} acknowledged at version ${a.version} is not stored there`);
      }
    }
    await again.stop();
    const integrity = execFileSync('sqlite3', [ctx.env.db.slice('sqlite:'.length), 'PRAGMA integrity_check'], { encoding: 'utf8' });
    assert.equal(integrity.trim(), 'ok');
    const total = acked.reduce((n, a) => n + a.length, 0);
    console.log(`# faults: ${total} acknowledged writes all stored; ${committedDespite503} writes answered 503 (or unanswered) were stored anyway: ${report.map((p) => `${p.kind} ${p.storedDespite503}`).join(', ')}`);
  });
});
