// PostgreSQL only (DESIGN.md §4): the database stops under load and starts again. While it is
// down every request answers 503 with the error envelope and /readyz fails; afterwards the
// server reconnects by itself and serves correctly; no acknowledged write is missing.
// The test stops a PostgreSQL cluster of its own (scripts/pg-test-cluster), so the files that
// run beside it on the shared cluster are not disturbed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { Env, PG_URL, ids, sleep, H, psql } from './lib/env.mjs';
import { caseBody, request } from './lib/client.mjs';
import { CASE, update, snapshot } from './lib/update.mjs';

const SCRIPT = new URL('../../scripts/pg-test-cluster', import.meta.url).pathname;
const WORKERS = 12;

/** A private cluster: {url, dir, ctl(cmd), close()}; close() stops and deletes it. */
async function privateCluster() {
  const proc = spawn(SCRIPT, ['run', '--', 'sh', '-c', 'echo "READY $CASEMGR_E2E_PG $CASEMGR_E2E_PG_DIR"; exec cat >/dev/null'],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const [url, dir] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pg-test-cluster did not start in 60 s: ${err}`)), 60_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /READY (\S+) (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve([m[1], m[2]]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`pg-test-cluster exited ${code}: ${err}`)); });
  });
  const ctl = (cmd) => new Promise((resolve, reject) => {
    execFile(SCRIPT, [cmd], { env: { ...process.env, CASEMGR_E2E_PG_DIR: dir }, timeout: 60_000 }, (e, so, se) => (e ? reject(new Error(`${cmd}: ${se || e.message}`)) : resolve()));
  });
  // ending its stdin ends the script's command: the trap stops the cluster and deletes it
  const close = async () => {
    proc.stdin.end();
    let timer;
    await Promise.race([exited, new Promise((resolve) => { timer = setTimeout(resolve, 60_000); })]);
    clearTimeout(timer); // a pending timer would keep this test process alive
  };
  return { url, dir, ctl, close };
}

/** The postmaster of the cluster in dir and its children (the backends), from /proc. */
function familyOf(dir) {
  const pid = Number(readFileSync(`${dir}/data/postmaster.pid`, 'utf8').split('\n')[0]);
  const children = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
    } catch { return false; }
  }).map(Number);
  return [pid, ...children];
}

function isUnavailable(r) {
  const e = r.json?.errors?.[0];
  return r.status === 503 && e?.code === 503 && e?.reason === 'unavailable' && typeof e?.msg === 'string';
}

describe('30 PostgreSQL stops under load and comes back', () => {
  if (!PG_URL) {
    it('needs PostgreSQL: run through `make test` or scripts/pg-test-cluster run -- ... with CASEMGR_E2E_PG', () => {
      assert.fail('CASEMGR_E2E_PG is not set: this file runs only in the PostgreSQL leg');
    });
    return;
  }

  let cluster, env, server, client, cfg;
  before(async () => {
    cluster = await privateCluster();
    env = await Env.create({ pgServer: cluster.url });
    const app = await env.createApp({ org: ids.org() });
    cfg = await env.streamConfig(app.streams[0]);
    server = await env.startServer(['--threads', '2']);
    client = server.client(app);
  }, { timeout: 90_000 });
  after(async () => {
    await env?.dispose();
    await cluster?.close();
  }, H);

  it('503 with the envelope while down, /readyz fails, then serves again; every acknowledged write is there', { timeout: 120_000 }, async () => {
    // each worker owns one case: it creates cases and counts up its case's desc
    const own = [];
    for (let w = 0; w < WORKERS; w++) own.push((await client.createCase(caseBody(cfg, { name: `worker ${w}`, desc: 'n0' }))).json);
    assert.ok(own.every((c) => c?._id), 'the workers\' cases');
    const acked = { created: [], counter: new Array(WORKERS).fill(0) };
    const log = []; // {t0, t1, what, status, ok503}
    let stop = false;
    async function worker(w) {
      for (let k = 1; !stop; k++) {
        const t0 = Date.now();
        let r;
        let what;
        try {
          if (k % 3 === 0) {
            what = 'getCases';
            r = await client.post('getCases', { limit: 5 });
          } else if (k % 3 === 1) {
            what = 'createCase';
            r = await client.createCase(caseBody(cfg, { name: `w${w} k${k}` }));
            if (r.status === 200) acked.created.push(r.json._id);
          } else {
            what = 'updateCase';
            r = await update(client, CASE, own[w]._id, { desc: `n${k}` });
            if (r.status === 200) acked.counter[w] = Math.max(acked.counter[w], k);
          }
        } catch (e) {
          log.push({ t0, t1: Date.now(), what, status: `fetch failed: ${e.message}` });
          continue;
        }
        log.push({ t0, t1: Date.now(), what, status: r.status, ok503: r.status !== 503 || isUnavailable(r), body: r.text.slice(0, 200) });
        if (r.status === 503) await sleep(20);
      }
    }
    const readyz = () => request(`${server.base}/readyz`, { method: 'GET' });

    const load = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await sleep(1500);
    const healthy = log.filter((x) => x.status === 200).length;
    await cluster.ctl('stop-server'); // pg_ctl stop -m fast: sessions are cut mid-request
    const downAt = Date.now();
    await sleep(2500);
    const rz = await readyz();
    assert.ok(isUnavailable(rz), `/readyz while PostgreSQL is down: ${rz.status} ${rz.text}`);
    const startingAt = Date.now(); // PostgreSQL may serve before pg_ctl start returns
    await cluster.ctl('start-server');
    const upAt = Date.now();
    let readyAt = null;
    while (Date.now() - upAt < 15_000) {
      if ((await readyz()).status === 200) { readyAt = Date.now(); break; }
      await sleep(50);
    }
    assert.ok(readyAt, '/readyz answers 200 within 15 s of PostgreSQL starting again');
    await sleep(2000);
    stop = true;
    await Promise.all(load);

    assert.ok(healthy > 20, `requests succeeded before the stop (${healthy})`);
    const odd = log.filter((x) => x.status !== 200 && x.status !== 503);
    assert.deepEqual(odd, [], 'every answer is 200 or 503 (never another status, never a broken connection)');
    const badEnvelope = log.filter((x) => x.status === 503 && !x.ok503);
    assert.deepEqual(badEnvelope, [], '503 answers carry the error envelope');
    const whileDown = log.filter((x) => x.t0 > downAt && x.t1 < startingAt);
    assert.ok(whileDown.length > 10, `requests while down (${whileDown.length})`);
    assert.deepEqual(whileDown.filter((x) => x.status !== 503), [], 'while PostgreSQL is down every request is 503');
    const afterReady = log.filter((x) => x.t0 > readyAt);
    assert.ok(afterReady.length > 20, `requests after /readyz recovered (${afterReady.length})`);
    assert.deepEqual(afterReady.filter((x) => x.status !== 200), [], 'once /readyz is 200 the server serves correctly again');

    // every acknowledged write is there
    for (const id of acked.created) {
      const s = await snapshot(client, CASE, id);
      assert.equal(s.doc._id, id);
    }
    for (let w = 0; w < WORKERS; w++) {
      const s = await snapshot(client, CASE, own[w]._id);
      const stored = Number(/^n(\d+)$/.exec(s.doc.desc)?.[1]);
      // a write answered 503 may have landed all the same (the commit outcome was not known)
      assert.ok(stored >= acked.counter[w], `worker ${w}: stored n${stored} holds at least the acknowledged n${acked.counter[w]}`);
    }
    const total = (await client.post('getCases', { limit: 1 })).json.totalResults;
    assert.ok(total >= WORKERS + acked.created.length, `total ${total} counts every acknowledged create`);
  });
  it('PostgreSQL frozen (its host still acknowledging TCP): /readyz answers 503 within 3 s, /healthz keeps answering, ready again after', { timeout: 60_000 }, async () => {
    // /readyz ran SELECT 1 on the I/O thread with no deadline: it never answered, and with the
    // I/O threads held /healthz and /metrics hung too (a liveness probe would restart the process)
    const srv = await env.startServer(['--threads', '2', '--workers', '8']);
    const base = srv.base;
    for (let i = 0; i < 6; i++) assert.equal((await request(`${base}/readyz`, { method: 'GET' })).status, 200);
    const stopped = familyOf(cluster.dir);
    for (const p of stopped) process.kill(p, 'SIGSTOP');
    try {
      const probes = [1, 2, 3, 4].map(async () => {
        const t0 = Date.now();
        const r = await request(`${base}/readyz`, { method: 'GET', timeout: 10_000 }).catch((e) => ({ status: 0, e }));
        return { status: r.status, ms: Date.now() - t0 };
      });
      await sleep(300);
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const h = await request(`${base}/healthz`, { method: 'GET', timeout: 2000 });
        assert.equal(h.status, 200, '/healthz while PostgreSQL is frozen');
        assert.ok(Date.now() - t0 < 1000, `/healthz took ${Date.now() - t0} ms`);
      }
      for (const p of await Promise.all(probes)) {
        assert.equal(p.status, 503, `/readyz while frozen: ${JSON.stringify(p)}`);
        assert.ok(p.ms < 3500, `/readyz answered after ${p.ms} ms`);
      }
    } finally {
      for (const p of stopped) { try { process.kill(p, 'SIGCONT'); } catch { /* gone */ } }
    }
    const deadline = Date.now() + 10_000;
    let r;
    do { r = await request(`${base}/readyz`, { method: 'GET' }); } while (r.status !== 200 && Date.now() < deadline && !(await sleep(200)));
    assert.equal(r.status, 200, '/readyz once PostgreSQL answers again');
    await srv.stop();
  });

  it('an error detail on stderr names the request it came from (API.md §10)', { timeout: 60_000 }, async () => {
    // "casemgr error: postgres: ...: canceling statement due to statement timeout" said nothing
    // of which request: the client's 503 and the line could not be matched
    const e2 = await Env.create({ pgServer: cluster.url });
    try {
      const app = await e2.createApp({ org: ids.org() });
      const dbName = new URL(e2.db).pathname.slice(1);
      // set once the server has started (its start-up statements ran past 1 ms on a busy machine);
      // a worker's connection, opened by the request, takes it
      const srv = await e2.startServer(['--threads', '2', '--workers', '2']);
      await psql(e2.db, `ALTER DATABASE "${dbName}" SET statement_timeout = '1ms'`);
      // a lock held elsewhere: the query waits on it, past the 1 ms statement timeout
      const holder = psql(e2.db, 'SET statement_timeout = 0; BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;');
      await sleep(500);
      const r = await srv.client(app).post('getCases', {}, { headers: { 'x-request-id': 'traced-503' } });
      assert.equal(r.status, 503);
      await holder;
      const deadline = Date.now() + 3000;
      while (!/request traced-503: postgres/.test(srv.stderrText) && Date.now() < deadline) await sleep(50);
      assert.match(srv.stderrText, /casemgr error: request traced-503: postgres: .*statement timeout/);
      await srv.stop();
    } finally {
      await e2.dispose();
    }
  });

  it('a worker idle for 10 s closes its connection, so the server\'s slots go to threads that work', { timeout: 60_000 }, async () => {
    // each thread kept the connection it opened for good: past max_connections the threads
    // without one answered 503, during the load and after it, while the others sat idle
    const e2 = await Env.create({ pgServer: cluster.url });
    try {
      const app = await e2.createApp({ org: ids.org() });
      const srv = await e2.startServer(['--threads', '2', '--workers', '8']);
      const c = srv.client(app);
      const count = async () => Number(await psql(e2.db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'casemgr'"));
      for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 40 }, () => c.post('getCases', {})));
      const busy = await count();
      assert.ok(busy >= 4, `${busy} connections after the burst`);
      await sleep(12_000);
      const idle = await count();
      assert.ok(idle <= 2, `${idle} connections 12 s after the burst (${busy} during it)`);
      for (let i = 0; i < 5; i++) assert.equal((await c.post('getCases', {})).status, 200, 'and it serves on');
      await srv.stop();
    } finally {
      await e2.dispose();
    }
  });

  it('a SIGTERM while PostgreSQL hangs: the server exits 1 after --drain-timeout, not hanging or freeing what a worker still uses', { timeout: 60_000 }, async () => {
    // at the drain's deadline the daemon was stopped under requests whose handler still waited
    // on the database (their state freed beneath them), and the worker was then joined: for ever
    // while PostgreSQL did not answer
    const app = await env.createApp({ org: ids.org() });
    const conf = await env.streamConfig(app.streams[0]);
    const srv = await env.startServer(['--threads', '2', '--drain-timeout', '1']);
    const c = srv.client(app);
    const made = await c.createCase(caseBody(conf));
    assert.equal(made.status, 200);
    const stopped = familyOf(cluster.dir);
    for (const p of stopped) process.kill(p, 'SIGSTOP');
    try {
      const hung = [1, 2, 3].map((i) => update(c, CASE, made.json._id, { desc: `hung ${i}` }).catch((e) => e));
      await sleep(500);
      const t0 = Date.now();
      const res = await srv.stop('SIGTERM', 15_000);
      const took = Date.now() - t0;
      assert.equal(res.killed, false, `the server did not exit by itself within 15 s of SIGTERM\n${srv.stderrTail()}`);
      assert.equal(res.code, 1, `exit code ${res.code} signal ${res.signal}\n${srv.stderrTail()}`);
      assert.ok(took < 8000, `exited ${took} ms after SIGTERM (--drain-timeout 1)`);
      assert.match(srv.stderrTail(), /3 requests still in flight after the 1 s drain/);
      await Promise.all(hung);
    } finally {
      for (const p of stopped) { try { process.kill(p, 'SIGCONT'); } catch { /* gone */ } }
    }
  });
});
