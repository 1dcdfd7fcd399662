// Slow and greedy clients (issue 7; API.md §1: "a connection idle or trickling bytes for 30 s
// is closed, at most 1024 connections at once", both settings). One server with
// --idle-timeout 2 --max-connections 64. In every scenario a normal client (tests/e2e/lib/
// hostile.mjs Prober: one authenticated getCases or createCase at a time, each on a fresh
// connection) keeps being served: every probe answers 200 and the slowest takes < 1000 ms.
// Slow connections are closed by the timeout; the server's descriptors stay under the cap.
// Scenarios: slowloris (headers, a byte per 500 ms), slow body (Content-Length 1000, a byte
// per 500 ms), slow readers (large getTasks answers never read), 60 idle connections, 150
// connections beyond the cap, and a slowhttptest run (Debian's slowhttptest, slowloris mode)
// when the tool is installed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Env, ids, H, sleep, pool } from './lib/env.mjs';
import { assertOk, apiBase, request, RawConn, buildRequest, taskBody } from './lib/client.mjs';
import { LeakWatch, Prober, assertServed, FdSampler, fdKinds, serverConnections, trickle } from './lib/hostile.mjs';

const IDLE_S = 2;
const MAX_CONNS = 64;
/** A slow connection must be closed within the idle timeout plus this (ms). */
const CLOSE_SLACK_MS = 2000;
const CLOSE_BY_MS = IDLE_S * 1000 + CLOSE_SLACK_MS;
/** Descriptors the server may hold beyond its baseline and its connections. */
const FD_MARGIN = 8;
/** The server's workers (--workers), and the descriptors each holds with its SQLite connection. */
const WORKERS = 8;
const FDS_A_WORKER = 2;
const S = { timeout: 30_000 };

function slowhttptestPath() {
  for (const p of ['/usr/bin/slowhttptest', '/usr/local/bin/slowhttptest']) if (existsSync(p)) return p;
  return null;
}

describe('41 slow and greedy clients (--idle-timeout 2, --max-connections 64)', () => {
  const leaks = new LeakWatch();
  let env, server, client, cfg, pid, base, fds, bigCase;
  const figures = [];

  before(async () => {
    env = await Env.create();
    const app = leaks.app(await env.createApp({ account: ids.account(), org: ids.org() }));
    cfg = await env.streamConfig(app.streams[0]);
    // --workers 8: each worker holds its own SQLite connection (two descriptors) while it is in
    // use; a small, fixed pool bounds what they add to the descriptors
    // make e2e-contract: no validating proxy in front, it would add connections and CPU to what
    // this file measures (lib/contract.mjs); the answers are still checked against the contract
    server = await env.startServer(['--idle-timeout', String(IDLE_S), '--max-connections', String(MAX_CONNS), '--workers', String(WORKERS)],
      { contractProxy: false });
    pid = server.proc.pid;
    client = leaks.client(server.client(app));
    // a stream whose getTasks answer is large: 120 tasks of ~48 KiB desc (about 12 MB per page of 500:
    // desc is stored twice, in desc and in the Description field)
    bigCase = await client.newCase(cfg, { name: 'the big case' });
    const fat = 'x'.repeat(48 * 1024);
    await pool(120, 16, async (i) => {
      const r = await client.createTask(taskBody(cfg, bigCase, { name: `fat task ${i}`, desc: fat }));
      assertOk(r, 'seed a fat task');
    });
    // let the idle timeout close this process's pooled keep-alive connections (fetch keeps them),
    // so the baseline holds the listening socket and no client. The creates above ran on the I/O
    // threads (on SQLite), which opened their connections; the workers open theirs when a job
    // first reaches them and give them back after 10 s idle (WORKER_IDLE_MS), so the check below
    // allows each of them its two descriptors whatever the baseline held.
    const deadline = Date.now() + (IDLE_S + 4) * 1000;
    await sleep(IDLE_S * 1000 + 500);
    while (conns() > 0 && Date.now() < deadline) await sleep(100);
    base = { ...fdKinds(pid), conns: conns() };
    fds = new FdSampler(pid, server.port, 50);
  }, { timeout: 60_000 });
  after(async () => {
    fds?.stop();
    await env?.dispose();
  }, H);

  const apiPath = (ep) => `${apiBase(client.stream)}${ep}`;
  const headersFor = (extra = []) => [['Host', `127.0.0.1:${server.port}`], ['Content-Type', 'application/json'], ['auth', client.token()], ['accountId', client.app.account], ...extra];
  const probe = () => new Prober(server, client, cfg, { everyMs: 100, timeoutMs: 4000 });
  const conns = () => serverConnections(pid, server.port);
  const alive = () => assert.ok(!server.exited, `the server exited: ${JSON.stringify(server.exited)}\n${server.stderrTail()}`);
  // Before a test that fills the server up to the cap: the sockets earlier tests left (answered
  // early and still drained for up to 2 s, or pooled keep-alive ones the idle timeout closes)
  // are gone, so that the whole file's count measures one test's connections at a time.
  const settled = async () => {
    const deadline = Date.now() + (IDLE_S + 3) * 1000;
    while (conns() > base.conns && Date.now() < deadline) await sleep(100);
  };

  it('slowloris: 20 connections trickling header bytes (one per 500 ms) are each closed within idle-timeout + 2 s; a normal client is served < 1 s throughout', S, async () => {
    const p = probe();
    const prefix = `POST ${apiPath('createCase')} HTTP/1.1\r\nHost: x\r\n`;
    const rest = `Content-Type: application/json\r\n${'X-Slow-Header: slowly-but-surely\r\n'.repeat(20)}\r\n`;
    const slow = await Promise.all(Array.from({ length: 20 }, () => trickle(server.port, rest, 500, { prefix })));
    try {
      const closed = await Promise.all(slow.map((s) => s.closedWithin(CLOSE_BY_MS + 1000)));
      const stats = await p.stop();
      figures.push(`slowloris: closed after ${Math.min(...closed.filter(Number.isFinite))}..${Math.max(...closed.map((c) => c ?? Infinity))} ms; probes n=${stats.n} p50=${stats.p50} max=${stats.max} ms`);
      const late = closed.map((ms, i) => [i, ms]).filter(([, ms]) => ms === null || ms > CLOSE_BY_MS);
      assert.deepEqual(late.map(([i, ms]) => `connection ${i}: ${ms === null ? 'still open' : `closed after ${ms} ms`} (${slow[i].sent()} header bytes sent)`), [],
        `slowloris connections not closed within ${CLOSE_BY_MS} ms of opening (--idle-timeout ${IDLE_S})`);
      for (const s of slow) assert.ok(!/^HTTP\/1\.1 2/.test(s.conn.buf.toString('latin1')), 'a slowloris request was served');
      assertServed(stats, 'during slowloris');
      alive();
    } finally {
      await p.stop();
      for (const s of slow) s.stop();
    }
  });

  it('slow body: 20 connections sending Content-Length 1000 at a byte per 500 ms are each closed within idle-timeout + 2 s, never served; a normal client is served < 1 s', S, async () => {
    const p = probe();
    const body = `{"name":"slow body","desc":"${'b'.repeat(980)}"}`.slice(0, 1000);
    const slow = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const head = buildRequest({ path: apiPath('createCase'), headers: headersFor([['Content-Length', '1000'], ['X-Request-Id', `slow-body-${i}`]]) });
      return trickle(server.port, body, 500, { prefix: head });
    }));
    try {
      const closed = await Promise.all(slow.map((s) => s.closedWithin(CLOSE_BY_MS + 1000)));
      const stats = await p.stop();
      figures.push(`slow body: closed after ${Math.min(...closed.filter(Number.isFinite))}..${Math.max(...closed.map((c) => c ?? Infinity))} ms; probes n=${stats.n} p50=${stats.p50} max=${stats.max} ms`);
      const late = closed.map((ms, i) => [i, ms]).filter(([, ms]) => ms === null || ms > CLOSE_BY_MS);
      assert.deepEqual(late.map(([i, ms]) => `connection ${i}: ${ms === null ? 'still open' : `closed after ${ms} ms`} (${slow[i].sent()} body bytes sent)`), [],
        `slow-body connections not closed within ${CLOSE_BY_MS} ms of opening (--idle-timeout ${IDLE_S})`);
      for (const s of slow) assert.ok(!/^HTTP\/1\.1 2/.test(s.conn.buf.toString('latin1')), 'a slow-body request was served');
      assertServed(stats, 'during slow bodies');
      // each is logged (status 0: no answer went out) and counted: they showed nowhere
      for (let i = 0; i < 20; i++) {
        const line = await server.waitForLog((l) => l.requestId === `slow-body-${i}`, 3000);
        assert.ok(line, `an access-log line for slow-body-${i}`);
        assert.deepEqual([line.status, line.bytes], [0, 0], JSON.stringify(line));
      }
      const m = (await request(`${server.base}/metrics`, { method: 'GET' })).text;
      const counted = Number(/casemgr_requests_total\{endpoint="createCase",status="0"\} (\d+)/.exec(m)?.[1] ?? 0);
      assert.ok(counted >= 20, `createCase status 0 counted ${counted} times`);
      alive();
    } finally {
      await p.stop();
      for (const s of slow) s.stop();
    }
  });

  it('slow readers: 8 connections pipelining 4 getTasks of ~12 MB each and never reading do not block others; the server drops them', S, async () => {
    const page = await client.post('getTasks', { caseId: bigCase._id, limit: 500 });
    assertOk(page, 'the big page');
    const size = page.text.length;
    assert.ok(size > 4_000_000, `the big page is only ${size} bytes`);
    const p = probe();
    const readers = await Promise.all(Array.from({ length: 8 }, async () => {
      const c = await RawConn.open(server.port);
      c.sock.pause(); // never read: the kernel buffers fill and the server's writes stall
      const one = buildRequest({ path: apiPath('getTasks'), headers: headersFor(), body: JSON.stringify({ caseId: bigCase._id, limit: 500 }) });
      await c.write(Buffer.concat([one, one, one, one]));
      return c;
    }));
    try {
      await sleep(700);
      const during = conns();
      assert.ok(during >= 8, `the 8 readers are not held (${during} client connections)`);
      await sleep(4000);
      const stats = await p.stop();
      // every reader stalled since; the server must give up on them (no progress for the idle timeout)
      const deadline = Date.now() + (IDLE_S + 4) * 1000;
      let now = conns();
      while (now > 1 && Date.now() < deadline) { await sleep(200); now = conns(); }
      figures.push(`slow readers: answer ${size} bytes; client connections ${during} during → ${now} after; probes n=${stats.n} p50=${stats.p50} max=${stats.max} ms`);
      assertServed(stats, 'during slow readers');
      assert.ok(now <= 1, `the stalled readers still hold ${now} connections ${IDLE_S + 4} s after they stalled (--idle-timeout ${IDLE_S})`);
      alive();
    } finally {
      await p.stop();
      for (const c of readers) c.destroy();
    }
  });

  it('60 idle connections opened at once are all accepted, then closed within idle-timeout + 2 s; a normal client is served < 1 s throughout', S, async () => {
    await settled();
    const p = probe();
    const t0 = Date.now();
    const idle = await pool(60, 60, () => RawConn.open(server.port));
    try {
      await sleep(300);
      const early = idle.filter((c) => c.closed).length;
      const held = conns();
      const closedAll = await Promise.all(idle.map((c) => c.waitClosed(CLOSE_BY_MS + 1000 - (Date.now() - t0))));
      const stats = await p.stop();
      const lateMs = Math.max(...idle.map((c) => (c.closedAt ?? Infinity) - t0));
      figures.push(`60 idle: ${early} closed at once; ${held} client connections held; last closed after ${lateMs} ms; probes n=${stats.n} p50=${stats.p50} max=${stats.max} ms`);
      assert.equal(early, 0, `${early} of 60 idle connections were closed at once (below --max-connections ${MAX_CONNS})`);
      assert.ok(held >= 60, `only ${held} client connections held with 60 idle ones open`);
      assert.ok(closedAll.every(Boolean) && lateMs <= CLOSE_BY_MS + 500, `idle connections still open ${CLOSE_BY_MS} ms later (last at ${lateMs} ms)`);
      assertServed(stats, 'during 60 idle connections');
      alive();
    } finally {
      await p.stop();
      for (const c of idle) c.destroy();
    }
  });

  it(`150 connections beyond --max-connections ${MAX_CONNS}: at most ${MAX_CONNS} held, no crash; a queued normal client is served once they go, and service resumes`, S, async () => {
    await settled();
    const flood = await pool(150, 50, async () => { try { return await RawConn.open(server.port); } catch { return null; } });
    let queued;
    try {
      await sleep(400);
      // held: in two samples 50 ms apart, as the descriptor sampler counts them; a socket the
      // server is closing can show in one (one make test run saw 67 in a single sample; five runs
      // of this file alone never went past 64)
      const first = {}, second = {};
      const once = serverConnections(pid, server.port, first);
      await sleep(50);
      const held = Math.min(once, serverConnections(pid, server.port, second));
      assert.ok(held <= MAX_CONNS, `the server holds ${held} client connections (cap ${MAX_CONNS}); by TCP state ${JSON.stringify(first)}, then ${JSON.stringify(second)}`);
      // a normal client arrives while the cap is reached: refused, or queued until a slot frees
      const tq = Date.now();
      queued = request(client.url('getCases'), { headers: { 'content-type': 'application/json', auth: client.token(), accountid: client.app.account }, body: { limit: 1 }, timeout: 10_000 })
        .then((r) => ({ r, ms: Date.now() - tq }), (e) => ({ e, ms: Date.now() - tq }));
      await sleep(300);
      for (const c of flood) c?.destroy(); // the attacker goes
      const q = await queued;
      figures.push(`150 beyond the cap: ${flood.filter(Boolean).length} connects succeeded, ${held} held by the server; a queued client got ${q.r ? q.r.status : q.e.message} after ${q.ms} ms`);
      if (q.r) assert.equal(q.r.status, 200, 'the queued client');
      alive();
      // service resumes: a fresh stream of probes is served
      const p = probe();
      await sleep(1500);
      assertServed(await p.stop(), 'after the flood');
    } finally {
      for (const c of flood) c?.destroy();
      await queued;
    }
  });

  it('slowhttptest (Debian), slowloris mode, 50 connections for 6 s: the tool sees the service available; a normal client is served < 1 s', { timeout: 30_000, skip: slowhttptestPath() ? false : 'slowhttptest is not installed (scripts/install-deps installs it)' }, async () => {
    const prefix = join(env.dir, 'slowhttptest');
    const p = probe();
    const res = await new Promise((resolve) => {
      execFile(slowhttptestPath(), ['-H', '-c', '50', '-r', '50', '-i', '1', '-l', '6', '-x', '16', '-p', '2', '-g', '-o', prefix,
        '-u', `http://127.0.0.1:${server.port}${apiPath('getCases')}`], { timeout: 20_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ err, stdout, stderr }));
    });
    const stats = await p.stop();
    const out = res.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    const csvPath = `${prefix}.csv`;
    assert.ok(existsSync(csvPath), `slowhttptest wrote no CSV: ${res.err?.message ?? ''}\n${out.slice(-1500)}\n${res.stderr.slice(-500)}`);
    const rows = readFileSync(csvPath, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
    const exit = /Exit status:\s*(.+)/.exec(out)?.[1]?.trim();
    const unavailable = rows.filter((r) => r[4] === 0).map((r) => r[0]);
    const maxConnected = Math.max(...rows.map((r) => r[3]));
    figures.push(`slowhttptest: exit "${exit}", ${rows.length} s, max connected ${maxConnected}, closed ${rows.at(-1)?.[1]}, service unavailable at seconds [${unavailable.join(',')}]; probes n=${stats.n} p50=${stats.p50} max=${stats.max} ms`);
    assert.ok(rows.length >= 3, `slowhttptest ran ${rows.length} s: ${out.slice(-800)}`);
    assert.deepEqual(unavailable, [], 'slowhttptest found the service unavailable');
    assertServed(stats, 'during slowhttptest');
    alive();
  });

  it(`descriptors over the whole file stayed under the cap: at most baseline + ${MAX_CONNS} connections + ${FD_MARGIN}, and the workers' database files`, S, async (t) => {
    const m = fds.stop();
    figures.push(`descriptors: baseline ${base.total} (${base.sockets} sockets, ${base.files} files, ${base.conns} client connections), max ${m.max} (${m.maxSockets} sockets, ${m.maxFiles} files, ${m.maxConns} client connections, ${m.maxConnsHeld} in two samples in a row) over ${m.samples} samples`);
    t.diagnostic(figures.join(' || '));
    assert.ok(m.maxConnsHeld <= MAX_CONNS, `the server held ${m.maxConnsHeld} client connections at once, over 50 ms (cap ${MAX_CONNS}; ${m.maxConns} in one sample)`);
    assert.ok(m.maxSockets <= base.sockets + MAX_CONNS + FD_MARGIN, `the server held ${m.maxSockets} sockets (baseline ${base.sockets}, cap ${MAX_CONNS}, margin ${FD_MARGIN})`);
    // the workers' connections, and the margin for an I/O thread that opened its own after the
    // baseline (a thread of MHD's pool opens it on the first request it runs)
    const workerFds = WORKERS * FDS_A_WORKER;
    assert.ok(m.maxFiles <= base.files + workerFds + FD_MARGIN, `the server held ${m.maxFiles} files (baseline ${base.files}, ${WORKERS} workers' connections ${workerFds}, margin ${FD_MARGIN})`);
    assert.ok(m.max <= base.total + MAX_CONNS + FD_MARGIN + workerFds, `the server held ${m.max} descriptors (baseline ${base.total}, cap ${MAX_CONNS}, margin ${FD_MARGIN}, ${WORKERS} workers' connections ${workerFds})`);
    alive();
    leaks.assertClean([server]);
  });
});
