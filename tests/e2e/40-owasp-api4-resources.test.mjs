// OWASP API Security Top 10 (2023), API4: unrestricted resource consumption. One row per
// attack against a server started with small limits (--body-limit 4096, --header-limit 2048,
// --max-depth 8, --max-string 256, --max-array 8, --max-connections 16): every limit answers a
// clear 4xx from the error catalogue, never a 2xx, a 5xx, a crash or a hang; page sizes are
// capped at 500; connections beyond the cap are not served at once and cost no descriptors;
// and the whole battery leaves the server's memory and descriptors where they were.
// (Slow and idle clients are tests/e2e/41-slow-clients.test.mjs.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Env, ids, T, H, sleep, pool, BIN } from './lib/env.mjs';
import { tokenFor } from './lib/jwt.mjs';
import { assertOk, assertError, apiBase, caseBody, request, RawConn, rawRequest, buildRequest, asFetchLike, connect } from './lib/client.mjs';
import { update, TASK } from './lib/update.mjs';
import { LeakWatch, assertNoInternals, serverConnections } from './lib/hostile.mjs';

const LIMITS = { body: 4096, header: 2048, depth: 8, string: 256, array: 8, conns: 16 };

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

describe('40 OWASP API4: unrestricted resource consumption (every limit is a clear 4xx)', () => {
  const leaks = new LeakWatch();
  let env, server, client, cfg, theCase, task, rss0, fd0;

  before(async () => {
    env = await Env.create();
    const app = leaks.app(await env.createApp({ account: ids.account(), org: ids.org() }));
    cfg = await env.streamConfig(app.streams[0]);
    server = await env.startServer([
      '--body-limit', String(LIMITS.body), '--header-limit', String(LIMITS.header), '--max-depth', String(LIMITS.depth),
      '--max-string', String(LIMITS.string), '--max-array', String(LIMITS.array), '--max-connections', String(LIMITS.conns),
      '--idle-timeout', '3',
    ]);
    client = leaks.client(server.client(app));
    theCase = await client.newCase(cfg, { desc: 'short' });
    task = await client.newTask(cfg, theCase);
    rss0 = rssKiB(server.proc.pid);
    fd0 = serverConnections(server.proc.pid, server.port);
  }, H);
  after(async () => { await env?.dispose(); }, H);

  const path = (ep) => `${apiBase(client.stream)}${ep}`;
  const hdrs = (extra = []) => [['Host', `127.0.0.1:${server.port}`], ['Content-Type', 'application/json'], ['auth', client.token()], ['accountId', client.app.account], ...extra];
  /** a JSON object body of exactly n bytes (createCase-valid apart from its size) */
  const padded = (n) => { const s = JSON.stringify(caseBody(cfg, { desc: 'x' })); return `${s.slice(0, -1)}${' '.repeat(n - s.length)}}`; };
  const nest = (n) => (n === 0 ? 'leaf' : { a: nest(n - 1) });

  /** The refusal must be exactly this 4xx with this reason, free of internals. */
  function refused(r, status, reason, field, what) {
    assertError(r, status, reason, field);
    assertNoInternals(r, what);
  }

  // ---------------------------------------------------------------- body size

  it('body: Content-Length over --body-limit → 413 from the headers alone (the body is never sent)', T, async () => {
    const conn = await RawConn.open(server.port);
    try {
      const t0 = Date.now();
      await conn.write(buildRequest({ path: path('createCase'), headers: hdrs([['Content-Length', String(LIMITS.body + 1)]]) }));
      const r = await conn.readResponse(2000);
      refused(asFetchLike(r), 413, 'body_too_large', undefined, '413 early');
      assert.ok(Date.now() - t0 < 1000, 'the 413 came late');
    } finally { conn.destroy(); }
  });

  it('body: a body one byte over the limit, sent whole, → 413 on createCase, updateTask and getTasks; exactly at the limit is fine', T, async () => {
    assertOk(await client.createCase(padded(LIMITS.body)), 'exactly --body-limit');
    refused(await client.createCase(padded(LIMITS.body + 1)), 413, 'body_too_large', undefined, 'createCase');
    refused(await update(client, TASK, task._id, `{"desc":"x"${' '.repeat(LIMITS.body)}}`), 413, 'body_too_large', undefined, 'updateTask');
    refused(await client.post('getTasks', `{"limit":5${' '.repeat(LIMITS.body)}}`), 413, 'body_too_large', undefined, 'getTasks');
  });

  it('body: Content-Length 10^18 and 10^30 (overflowing 64 bits) → 413 or 400, never read', T, async () => {
    for (const cl of ['1000000000000000000', '1000000000000000000000000000000', '18446744073709551616']) {
      const conn = await RawConn.open(server.port);
      try {
        await conn.write(buildRequest({ path: path('createCase'), headers: hdrs([['Content-Length', cl]]) }));
        const r = asFetchLike(await conn.readResponse(2000));
        assert.ok([400, 413].includes(r.status), `Content-Length ${cl}: expected 413 (or 400), got ${r.status} ${r.text.slice(0, 200)}`);
        assertNoInternals(r, `Content-Length ${cl}`);
      } finally { conn.destroy(); }
    }
  });

  it('body: Content-Length negative, non-numeric or signed → 400', T, async () => {
    for (const cl of ['-1', 'abc', '+5', '0x10', '1 2']) {
      const res = await rawRequest(server.port, Buffer.concat([buildRequest({ path: path('createCase'), headers: hdrs([['Content-Length', cl]]) }), Buffer.from('{}')]), 2000);
      res.conn.destroy();
      assert.equal(res.status, 400, `Content-Length ${JSON.stringify(cl)}: expected 400, got ${res.statusLine}`);
    }
  });

  it('body: a chunked body over the limit → 413 (or 411)', T, async () => {
    const json = padded(LIMITS.body * 2);
    const big = `${Buffer.byteLength(json).toString(16)}\r\n${json}\r\n0\r\n\r\n`;
    const r = await rawRequest(server.port, buildRequest({ path: path('createCase'), headers: hdrs([['Transfer-Encoding', 'chunked']]), body: big, autoLength: false }), 3000);
    r.conn.destroy();
    assert.ok([413, 411].includes(r.status), `chunked over the limit: got ${r.statusLine}`);
  });

  it('body: a declared chunk larger than the limit (0x2000, 2^64-1, 17 hex digits) with 2 bytes sent → 4xx or closed by the idle timeout (3 s), never served', T, async () => {
    await Promise.all(['2000', 'FFFFFFFFFFFFFFFF', 'FFFFFFFFFFFFFFFFF'].map(async (size) => {
      const conn = await RawConn.open(server.port);
      try {
        await conn.write(buildRequest({ path: path('createCase'), headers: hdrs([['Transfer-Encoding', 'chunked']]), body: `${size}\r\n{}`, autoLength: false }));
        let res = null;
        try { res = await conn.readResponse(5000); } catch { /* closed or silent */ }
        if (res) assert.ok(res.status >= 400 && res.status < 500, `chunk size ${size}: got ${res.statusLine}`);
        else assert.ok(conn.closed, `chunk size ${size}: neither answered nor closed after 5 s (idle timeout 3 s)`);
      } finally { conn.destroy(); }
    }));
  });

  // ---------------------------------------------------------------- JSON shape

  it('depth: nesting past --max-depth → 400 nesting_too_deep on createCase, updateTask and getTasks', T, async () => {
    refused(await client.createCase(caseBody(cfg, { userInfo: { _id: 'u-1', name: 'x', deep: nest(LIMITS.depth + 2) } })), 400, 'nesting_too_deep', undefined, 'createCase');
    refused(await update(client, TASK, task._id, { userInfo: { deep: nest(LIMITS.depth + 2) } }), 400, 'nesting_too_deep', undefined, 'updateTask');
    refused(await client.post('getTasks', { customFields: [{ name: 'x', value: nest(LIMITS.depth + 2) }] }), 400, 'nesting_too_deep', undefined, 'getTasks');
  });

  it('depth: a bracket bomb filling the body limit ([[[[...]]]]) → 400', T, async () => {
    const n = LIMITS.body / 2 - 1;
    refused(await client.createCase('['.repeat(n) + ']'.repeat(n)), 400, ['nesting_too_deep', 'invalid_json'], undefined, 'bracket bomb');
    refused(await client.createCase(`{"a":${'{"a":'.repeat(600)}1${'}'.repeat(601)}`), 400, ['nesting_too_deep', 'invalid_json'], undefined, 'object bomb');
  });

  it('string: a string past --max-string → 400 string_too_long naming the member (createCase, updateTask, getTasks searchText)', T, async () => {
    const s = 's'.repeat(LIMITS.string + 1);
    assertOk(await client.createCase(caseBody(cfg, { desc: 's'.repeat(LIMITS.string) })), 'exactly --max-string');
    refused(await client.createCase(caseBody(cfg, { desc: s })), 400, 'string_too_long', 'desc', 'createCase desc');
    refused(await update(client, TASK, task._id, { desc: s }), 400, 'string_too_long', 'desc', 'updateTask desc');
    refused(await client.post('getTasks', { searchText: s }), 400, 'string_too_long', 'searchText', 'getTasks searchText');
  });

  it('string: a member name past --max-string, and a long string hidden in \\u escapes → 400', T, async () => {
    const r1 = await client.createCase(`{"${'k'.repeat(LIMITS.string + 1)}": 1}`);
    assert.equal(r1.status, 400, `long key: got ${r1.status}`);
    assertNoInternals(r1, 'long key');
    // 300 × "\u00e9" is 1800 bytes of JSON (under the body limit) but 600 bytes of string
    const r2 = await update(client, TASK, task._id, `{"desc":"${'\\u00e9'.repeat(300)}"}`);
    refused(r2, 400, 'string_too_long', 'desc', 'escaped string');
  });

  it('array: an array past --max-array → 400 array_too_long naming the member (tags, getTasks status, selectedColumns)', T, async () => {
    const arr = Array.from({ length: LIMITS.array + 1 }, (_, i) => `t${i}`);
    assertOk(await client.createCase(caseBody(cfg, { tags: arr.slice(0, LIMITS.array) })), 'exactly --max-array');
    refused(await client.createCase(caseBody(cfg, { tags: arr })), 400, 'array_too_long', 'tags', 'createCase tags');
    refused(await update(client, TASK, task._id, { tags: arr }), 400, 'array_too_long', 'tags', 'updateTask tags');
    refused(await client.post('getTasks', { status: arr }), 400, 'array_too_long', 'status', 'getTasks status');
    refused(await client.post('getCases', { selectedColumns: arr }), 400, 'array_too_long', 'selectedColumns', 'getCases selectedColumns');
  });

  it('array: a top-level array body and an array of arrays past the limit → 400', T, async () => {
    const r = await client.createCase(JSON.stringify(Array.from({ length: 50 }, () => [1, 2])));
    assert.equal(r.status, 400, `top-level array: got ${r.status}`);
    refused(await update(client, TASK, task._id, { attachments: Array.from({ length: LIMITS.array + 1 }, () => []) }), 400, 'array_too_long', 'attachments', 'array of arrays');
  });

  // ---------------------------------------------------------------- headers and URI

  it('headers: one header past --header-limit → 431 headers_too_large; many small ones adding up → 431', T, async () => {
    let r = await rawRequest(server.port, buildRequest({ path: path('getCases'), headers: hdrs([['X-Filler', 'a'.repeat(LIMITS.header)]]), body: '{}' }));
    r.conn.destroy();
    refused(asFetchLike(r), 431, 'headers_too_large', undefined, '431 one header');
    const many = Array.from({ length: 60 }, (_, i) => [`X-F${i}`, 'b'.repeat(40)]);
    r = await rawRequest(server.port, buildRequest({ path: path('getCases'), headers: hdrs(many), body: '{}' }));
    r.conn.destroy();
    refused(asFetchLike(r), 431, 'headers_too_large', undefined, '431 many headers');
  });

  it('headers: a huge auth header (a 3 KiB token) → 431 before any verification', T, async () => {
    const r = await rawRequest(server.port, buildRequest({ path: path('getCases'), headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', 'A'.repeat(3 * 1024)]], body: '{}' }));
    r.conn.destroy();
    refused(asFetchLike(r), 431, 'headers_too_large', undefined, 'huge auth');
  });

  it('URI: a request target past --header-limit → 414 uri_too_long (path, and query string)', T, async () => {
    for (const target of [`${path('getCases')}${'/x'.repeat(LIMITS.header)}`, `${path('getCases')}?${'q'.repeat(LIMITS.header * 2)}`]) {
      const r = await rawRequest(server.port, buildRequest({ path: target, headers: hdrs(), body: '{}' }));
      r.conn.destroy();
      assert.ok([414, 431].includes(r.status), `target of ${target.length} bytes: expected 414, got ${r.statusLine}`);
      assertError(asFetchLike(r), r.status, r.status === 414 ? 'uri_too_long' : 'headers_too_large');
    }
  });

  // ---------------------------------------------------------------- page sizes

  it('limit 501 on getCases, getTasks and getActivities → 400 invalid_value naming limit; 500 is served', T, async () => {
    for (const ep of ['getCases', 'getTasks', `getActivities/${task._id}`]) {
      refused(await client.post(ep, { limit: 501 }), 400, 'invalid_value', 'limit', `${ep} 501`);
      assertOk(await client.post(ep, { limit: 500 }), `${ep} 500`);
    }
  });

  it('limit and skip as huge, fractional, string or exponent numbers → 400 (or an empty page for a huge skip), never a 5xx', T, async () => {
    const probes = [
      [{ limit: 1e308 }, [400]], [{ limit: 1e6 }, [400]], [{ limit: 2 ** 53 + 1 }, [400]], [{ limit: 50.5 }, [400]],
      [{ limit: '500' }, [400]], [{ limit: -1 }, [400]], [{ limit: 0 }, [400]],
      [{ skip: -1 }, [400]], [{ skip: 1e18 }, [200, 400]], [{ skip: 2 ** 62 }, [200, 400]], [{ skip: 1e308 }, [400, 200]],
      ['{"limit": 1e400}', [400]], ['{"limit": -0}', [400, 200]],
    ];
    for (const ep of ['getCases', 'getTasks']) {
      for (const [body, ok] of probes) {
        const r = await client.post(ep, body);
        assert.ok(ok.includes(r.status), `${ep} ${JSON.stringify(body)}: expected ${ok.join('|')}, got ${r.status} ${r.text.slice(0, 200)}`);
        assertNoInternals(r, `${ep} ${JSON.stringify(body)}`);
        if (r.status === 200) assert.equal(r.json.results.length, 0, 'a huge skip must answer an empty page');
      }
    }
  });

  // ---------------------------------------------------------------- connections

  it(`connections: 200 opened at once with --max-connections ${LIMITS.conns} → at most ${LIMITS.conns} held, descriptors capped; service resumes`, T, async () => {
    // Sockets answered before their body was read earlier in this file (413, 431, 414) are kept a
    // moment by the server, their input drained (http/server.c, LINGER_US 2 s): they are not
    // connections MHD holds, but they are sockets on the port, so let them go first.
    await sleep(2200);
    const conns = await pool(200, 50, async () => { try { return await RawConn.open(server.port); } catch { return null; } });
    try {
      await sleep(300);
      // held: in two samples 100 ms apart (as lib/hostile.mjs's sampler counts them). A socket
      // libmicrohttpd accepts while it closes another, or a lingering one whose 2 s are just
      // over, is in one sample only: under ASan behind the contract proxy one sample saw 17.
      const first = serverConnections(server.proc.pid, server.port);
      await sleep(100);
      const held = Math.min(first, serverConnections(server.proc.pid, server.port));
      assert.ok(held <= LIMITS.conns, `the server holds ${held} client connections with 200 opened and --max-connections ${LIMITS.conns}`);
    } finally {
      for (const c of conns) c?.destroy();
    }
    const deadline = Date.now() + 3000;
    let r;
    do {
      await sleep(100);
      try { r = await request(`${server.base}/healthz`, { method: 'GET', timeout: 1000 }); } catch { r = null; }
    } while ((!r || r.status !== 200) && Date.now() < deadline);
    assert.equal(r?.status, 200, 'service did not resume within 3 s after the connections went away');
    assertOk(await client.post('getCases', { limit: 1 }), 'getCases after the flood');
  });

  it('the battery left the server up, its memory within 64 MiB and its client connections drained', T, async () => {
    assert.ok(!server.exited, 'the server exited');
    const h = await request(`${server.base}/healthz`, { method: 'GET' });
    assert.equal(h.status, 200);
    const rss = rssKiB(server.proc.pid);
    assert.ok(rss - rss0 < 64 * 1024, `RSS grew from ${rss0} KiB to ${rss} KiB`);
    // kept-alive connections of this process close within the idle timeout (3 s)
    const deadline = Date.now() + 5000;
    let held = serverConnections(server.proc.pid, server.port);
    while (held > fd0 + 1 && Date.now() < deadline) { await sleep(100); held = serverConnections(server.proc.pid, server.port); }
    assert.ok(held <= fd0 + 1, `client connections: ${fd0} before the battery, ${held} five seconds after it`);
  });

  it('the server output (access log, stderr) carries no token or clientSecret of this file', T, () => {
    leaks.assertClean([server]);
  });
});

// check_head allocated a body's declared size up front: one unauthenticated request declaring
// Content-Length 60000000000 under --body-limit 2^40 aborted the server ("out of memory").
// The buffer now grows as the bytes come, and a body it cannot hold is refused with 503. The
// server runs under an address-space limit (prlimit) a little above what it uses idle, so an
// allocation of the declared size fails as a 60 GB one did; a sanitizer build reserves terabytes
// of shadow memory and cannot run under one.
describe('40 OWASP API4: a declared body size costs nothing until its bytes arrive', () => {
  const BIG = 256 * 1024 * 1024; // --body-limit's largest value
  const sanitized = /lib(asan|tsan)/.test(execFileSync('ldd', [BIN], { encoding: 'utf8' }));
  let env, server, app, cfg;
  before(async () => {
    if (sanitized) return;
    env = await Env.create();
    app = await env.createApp();
    cfg = await env.streamConfig(app.streams[0]);
    server = await env.startServer(['--body-limit', String(BIG)], { contractProxy: false });
    const vm = Number(/VmSize:\s+(\d+)/.exec(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))[1]);
    execFileSync('prlimit', ['--pid', String(server.proc.pid), `--as=${(vm + 160 * 1024) * 1024}`]);
  }, H);
  after(async () => { await env?.dispose(); }, H);
  const S = { timeout: 60_000, skip: sanitized ? 'a sanitizer build cannot run under an address-space limit' : false };
  const head = (length) => buildRequest({
    path: `${apiBase(app.streams[0])}createCase`,
    headers: [['Host', 'x'], ['Content-Type', 'application/json'], ['auth', tokenFor(app)], ['Content-Length', String(length)]],
  });

  it('8 connections declaring a body of --body-limit (256 MiB) and sending 10 bytes: the server goes on serving', S, async () => {
    const conns = await Promise.all(Array.from({ length: 8 }, () => RawConn.open(server.port)));
    for (const c of conns) await c.write(Buffer.concat([head(BIG), Buffer.from('{"name":"x')]));
    await sleep(300);
    assert.equal(server.exited, null, `the server died: ${server.stderrTail()}`);
    assertOk(await server.client(app).createCase(caseBody(cfg)), 'createCase beside them');
    for (const c of conns) c.destroy();
  });

  it('a body the server cannot hold is refused with 503 unavailable, and the server goes on', S, async () => {
    const conn = await RawConn.open(server.port);
    try {
      await conn.write(head(BIG));
      const chunk = Buffer.alloc(4 << 20, 0x20);
      for (let sent = 0; sent < BIG && !conn.closed; sent += chunk.length) await conn.write(chunk);
      const r = await conn.readResponse(20_000);
      assertError(asFetchLike(r), 503, 'unavailable');
      assert.match(r.json.errors[0].msg, /memory/);
    } finally {
      conn.destroy();
    }
    assert.equal(server.exited, null, `the server died: ${server.stderrTail()}`);
    assertOk(await server.client(app).createCase(caseBody(cfg)), 'createCase after it');
  });
});

describe('40 OWASP API4: a page is bounded in bytes, not only in count', () => {
  let env, server, client, cfg;
  before(async () => {
    env = await Env.create();
    const app = await env.createApp({ account: ids.account(), org: ids.org() });
    cfg = await env.streamConfig(app.streams[0]);
    server = await env.startServer();
    client = server.client(app);
  }, H);
  after(async () => { await env?.dispose(); }, H);

  // ~975 KB of attachments: 15 strings of 65,000 bytes (under the 1 MiB body, 64 KiB strings)
  const big = (c) => Array.from({ length: 15 }, () => c.repeat(65000));

  it('getTasks and getActivities refuse a page past 16 MiB (400, field limit) and answer a smaller one', { timeout: 120_000 }, async () => {
    // each document may be near the body limit and each activity holds a change's old and new
    // values: a page of 500 was built whole in memory (~1 GB for big activities)
    const theCase = await client.newCase(cfg);
    for (let i = 0; i < 18; i++) await client.newTask(cfg, theCase, { attachments: big(String.fromCharCode(97 + (i % 26))) });
    const wide = await client.post('getTasks', { caseId: theCase._id, limit: 50 });
    assertError(wide, 400, 'invalid_value', 'limit');
    assert.match(wide.json.errors[0].msg, /more than 16 MiB/);
    const narrow = await client.post('getTasks', { caseId: theCase._id, limit: 10 });
    assertOk(narrow, 'a page of 10');
    assert.equal(narrow.json.results.length, 10);
    const task = (await client.post('getTasks', { caseId: theCase._id, limit: 1 })).json.results[0];
    for (let i = 0; i < 9; i++) assertOk(await update(client, TASK, task._id, { attachments: big(i % 2 ? 'y' : 'z') }), `update ${i}`);
    assertError(await client.post(`getActivities/${task._id}`, { limit: 50 }), 400, 'invalid_value', 'limit');
    const few = await client.post(`getActivities/${task._id}`, { limit: 4 });
    assertOk(few, 'four activities');
    assert.equal(few.json.results.length, 4);
    assert.equal(few.json.totalResults, 9);
  });

  it('the server holds no more than the budget while it reads a page too big to answer', { timeout: 180_000 }, async () => {
    // PostgreSQL's client library read a page's rows whole before the budget saw the first:
    // a page of 200 documents of ~975 KB took the server's peak memory up by ~190 MB
    const theCase = await client.newCase(cfg);
    await pool(200, 4, async (i) => {
      await client.newTask(cfg, theCase, { attachments: big(String.fromCharCode(97 + (i % 26))) });
    });
    const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))[1]);
    const before = hwm();
    const wide = await client.post('getTasks', { caseId: theCase._id, limit: 200 });
    assertError(wide, 400, 'invalid_value', 'limit');
    const grown = (hwm() - before) / 1024;
    assert.ok(grown < 100, `peak memory grew by ${grown.toFixed(1)} MiB reading the page`);

    // the memory of large answers goes back to the system once they are sent: TCMalloc kept it,
    // and 20 concurrent pages of 15 MB held the server at 740 MB for good
    const rss = () => rssKiB(server.proc.pid) / 1024;
    const base = rss();
    for (let round = 0; round < 2; round++) {
      const pages = await Promise.all(Array.from({ length: 12 }, () => client.post('getTasks', { caseId: theCase._id, limit: 15 })));
      for (const p of pages) assertOk(p, 'a page of 15 tasks of ~975 KB');
    }
    const peak = rss();
    const deadline = Date.now() + 15_000;
    while (rss() > base + 100 && Date.now() < deadline) await sleep(250);
    assert.ok(rss() <= base + 100, `RSS ${rss().toFixed(0)} MiB ${((Date.now() - deadline) / 1000 + 15).toFixed(1)} s after the pages (${base.toFixed(0)} MiB before, ${peak.toFixed(0)} MiB after)`);
  });

  it('a document past 16 MiB alone (--body-limit above it) is still listed, one a page', { timeout: 120_000 }, async () => {
    // the budget counted the first item too: such a record failed every page, every limit
    const wide = await env.startServer(['--body-limit', '40000000']);
    const c = wide.client(client.app);
    const theCase = await c.newCase(cfg);
    await c.newTask(cfg, theCase, { attachments: Array.from({ length: 270 }, () => 'w'.repeat(65000)) });
    const one = await c.post('getTasks', { caseId: theCase._id, limit: 1 });
    assertOk(one, 'a page of the one 17.5 MB task');
    assert.equal(one.json.results.length, 1);
    const named = await c.post('getTasks', { caseId: theCase._id, limit: 1, selectedColumns: ['name'] });
    assertOk(named, 'its selected columns');
    assert.deepEqual(Object.keys(named.json.results[0]).sort(), ['_id', 'name']);
    await wide.stop();
  });
});

describe('40 OWASP API4: connections never take the descriptors the database needs', () => {
  let env, client, app, cfg;
  before(async () => {
    env = await Env.create();
    app = await env.createApp({ account: ids.account(), org: ids.org() });
    cfg = await env.streamConfig(app.streams[0]);
  }, H);
  after(async () => { await env?.dispose(); }, H);

  it('under a low open-file limit --max-connections is lowered, and clients wait instead of getting 503', { timeout: 60_000 }, async () => {
    // 176 idle connections under `ulimit -n 200` took the descriptors the workers' database
    // connections needed: every new request of every tenant was 503 "the database is unavailable"
    const server = await env.startServer(['--workers', '8', '--idle-timeout', '2'], { wrapper: ['prlimit', '--nofile=200:200', '--'], contractProxy: false });
    assert.match(server.stderrText, /--max-connections 1024 lowered to \d+: the open-file limit is 200/);
    client = server.client(app);
    const idle = [];
    try {
      for (let i = 0; i < 176; i++) idle.push(await connect(server.port).catch(() => null));
      const answers = await Promise.all(Array.from({ length: 6 }, () => client.post('getCases', {})));
      assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200, 200, 200], JSON.stringify(answers.map((r) => r.json)));
      assertOk(await client.createCase(caseBody(cfg)), 'a write too');
    } finally {
      for (const s of idle) s?.destroy();
    }
  });
});
