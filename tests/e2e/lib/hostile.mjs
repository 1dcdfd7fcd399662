// Helpers for the hostile-client suites (tests/e2e/40-owasp-*.test.mjs, 41-slow-clients):
// forged tokens, "answered exactly like a missing id", scans of error bodies and server output
// for internals and secrets, and, for slow and greedy clients, an fd sampler, a latency prober
// and byte tricklers on raw sockets.
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, readFileSync } from 'node:fs';
import { generateKeyPairSync, createSign, createHmac, randomUUID } from 'node:crypto';
import { sleep } from './env.mjs';
import { RawConn, buildRequest, apiBase, caseBody } from './client.mjs';
import { b64url } from './jwt.mjs';

// ------------------------------------------------------------------ ids

/** Well-formed ids that no record has (same shape as the server's). */
export const MISSING_ID = {
  case: () => `ci-${randomUUID().slice(1)}`,
  task: () => `ti-${randomUUID().slice(1)}`,
};

// ------------------------------------------------------------------ answers

/**
 * Asserts an answer to another tenant's id is exactly the answer to a missing id: the same
 * status (404), reason and field, and the same message once each request's own id is
 * replaced by a placeholder (a message may name the id it was asked about).
 */
export function assertSameAsMissing(got, missing, { gotId, missingId, what = '' } = {}) {
  const show = (r) => `HTTP ${r.status} ${String(r.text).slice(0, 400)}`;
  assert.equal(missing.status, 404, `${what}: the control request (a missing id) must be 404, got ${show(missing)}`);
  assert.equal(got.status, missing.status, `${what}: another tenant's id must be answered like a missing one (${show(missing)}), got ${show(got)}`);
  const g = got.json?.errors?.[0];
  const m = missing.json?.errors?.[0];
  assert.ok(g && m, `${what}: error envelopes expected: ${show(got)} / ${show(missing)}`);
  assert.equal(g.reason, m.reason, `${what}: reason differs from a missing id's`);
  assert.equal(g.code, m.code, `${what}: code differs`);
  assert.equal(g.field, m.field, `${what}: field differs`);
  const norm = (s, id) => (id ? String(s).split(id).join('<id>') : String(s));
  assert.equal(norm(g.msg, gotId), norm(m.msg, missingId), `${what}: message differs from a missing id's`);
  assert.equal(got.json.errors.length, missing.json.errors.length, `${what}: number of errors differs`);
}

/** Words and shapes that betray internals: SQL, libraries, source paths, stack traces. */
export const INTERNALS_RE = new RegExp([
  'sqlite', 'jansson', 'libpq', 'postgres', 'psql', 'microhttpd', '\\bMHD_', 'openssl', 'EVP_',
  '\\bSELECT\\b', '\\bINSERT\\s+INTO\\b', '\\bUPDATE\\s+\\w+\\s+SET\\b', '\\bDELETE\\s+FROM\\b', '\\bFROM\\s+(records|docs|documents|apps|activities)\\b',
  '\\bWHERE\\b', 'syntax error', 'near "', 'no such (table|column)', 'constraint failed', 'SQLITE_',
  '\\.c:\\d+', '\\.h:\\d+', '/src/', '/work/', '/tmp/', '/usr/', '/home/', 'casemgr\\.db',
  'stack trace', 'backtrace', 'Traceback', 'segfault', 'Segmentation', 'assert(ion)? failed', 'abort\\(',
  '0x[0-9a-f]{8,}', '\\berrno\\b', 'strerror', 'malloc', 'nullptr', '\\(null\\)',
].join('|'), 'i');

/**
 * Asserts a response body carries no internals; returns the body text. opts.echo: strings the
 * request itself sent, which an error message may quote back (not internals), erased first.
 */
export function assertNoInternals(r, what = '', { echo = [] } = {}) {
  const text = typeof r.text === 'string' ? r.text : String(r.body ?? '');
  let scanned = text;
  for (const e of echo) scanned = scanned.split(e).join('').split(JSON.stringify(e).slice(1, -1)).join('');
  const m = INTERNALS_RE.exec(scanned);
  assert.ok(!m, `${what}: the response body betrays internals (${JSON.stringify(m?.[0])}): HTTP ${r.status} ${text.slice(0, 600)}`);
  return text;
}

// ------------------------------------------------------------------ secrets in the server output

/**
 * Collects every secret a test file uses (tokens, their signatures, client secrets) and checks
 * that the servers' stdout (the access log) and stderr never contain any of them.
 */
export class LeakWatch {
  constructor() {
    this.secrets = new Map(); // value -> label
  }

  /** Adds a secret (ignored when too short to be told from chance). */
  add(value, label = 'secret') {
    if (typeof value !== 'string') return value;
    if (value.length >= 16) this.secrets.set(value, label);
    // a token: its signature alone, and header.payload, count too
    const parts = value.split('.');
    if (parts.length === 3) {
      if (parts[2].length >= 16) this.secrets.set(parts[2], `${label} (signature)`);
      if (parts[1].length >= 16) this.secrets.set(`${parts[0]}.${parts[1]}`, `${label} (header.payload)`);
    }
    return value;
  }

  /** Records an app's clientSecret and every token its clients mint from now on. */
  app(app) {
    this.add(app.clientSecret, `clientSecret of ${app.clientId}`);
    return app;
  }

  /** Wraps a Client so every token it mints is recorded. */
  client(client) {
    const mint = client.token.bind(client);
    client.token = (...args) => this.add(mint(...args), `token of ${client.app.clientId}`);
    this.app(client.app);
    return client;
  }

  /** Asserts none of the secrets appears in any server's stdout or stderr. */
  assertClean(servers) {
    const found = [];
    let lines = 0;
    for (const s of servers) {
      const out = `${s.stdoutText}\n${s.stderrText}`;
      lines += s.stdoutText.split('\n').filter(Boolean).length;
      for (const [v, label] of this.secrets) {
        if (out.includes(v)) found.push(`${label}: ${v.slice(0, 24)}…`);
      }
      // the auth header's name with a value, in any spelling, is a leak too
      const m = /"(auth|authorization)"\s*:\s*"[^"]{8,}"/i.exec(out);
      if (m) found.push(`an auth header value: ${m[0].slice(0, 60)}`);
    }
    assert.deepEqual(found, [], `the server output (${lines} access-log lines) carries secrets: ${found.slice(0, 5).join('; ')}`);
    return { secrets: this.secrets.size, lines };
  }
}

// ------------------------------------------------------------------ forged tokens

let rsaKeys;
/** An RSA key pair of the attacker's (generated once). */
export function attackerRsa() {
  rsaKeys ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
  return rsaKeys;
}

/** A token with the given header and payload, signed RS256 with the attacker's RSA key. */
export function signRs256(header, payload) {
  const data = `${b64url(header)}.${b64url(payload)}`;
  const sig = createSign('RSA-SHA256').update(data).sign(attackerRsa().privateKey).toString('base64url');
  return `${data}.${sig}`;
}

/** header/payload given as raw strings (not re-serialised), HMAC-signed with key (utf8). */
export function signRaw(headerText, payloadText, key, digest = 'sha256') {
  const data = `${Buffer.from(headerText).toString('base64url')}.${Buffer.from(payloadText).toString('base64url')}`;
  const sig = digest ? createHmac(digest, Buffer.from(key, 'utf8')).update(data).digest('base64url') : '';
  return `${data}.${sig}`;
}

// ------------------------------------------------------------------ slow and greedy clients

/** Number of open file descriptors of a process (from /proc); NaN when unreadable. */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** A process's descriptors by kind: {total, sockets, files} (from /proc; NaN when unreadable). */
export function fdKinds(pid) {
  let names;
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return { total: NaN, sockets: NaN, files: NaN };
  }
  let sockets = 0;
  let files = 0;
  for (const n of names) {
    let target = '';
    try { target = readlinkSync(`/proc/${pid}/fd/${n}`); } catch { continue; }
    if (target.startsWith('socket:')) sockets++;
    else if (target.startsWith('/')) files++;
  }
  return { total: names.length, sockets, files };
}

/**
 * The client connections a server process holds on its listening port (accepted sockets, not
 * the listener, not its own outgoing connections such as PostgreSQL's): the process's socket
 * inodes matched against /proc/PID/net/tcp{,6} rows whose local port is `port`. With `states`
 * (an object), counts them by TCP state too, as /proc names them (01 established, 04/05 FIN
 * sent, 08 closed by the client).
 */
export function serverConnections(pid, port, states = null) {
  let names;
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return NaN;
  }
  const mine = new Set();
  for (const n of names) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${n}`));
      if (m) mine.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const f of ['tcp', 'tcp6']) {
    let text = '';
    try { text = readFileSync(`/proc/${pid}/net/${f}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const localPort = cols[1].split(':')[1];
      const state = cols[3];
      if (localPort === hexPort && state !== '0A' && mine.has(cols[9])) {
        count++;
        if (states) states[state] = (states[state] ?? 0) + 1;
      }
    }
  }
  return count;
}

/** Samples a process's fd count every `everyMs` until stop(); keeps the maximum. */
export class FdSampler {
  /** port: the server's listening port, to count its client connections too. */
  constructor(pid, port, everyMs = 50) {
    this.pid = pid;
    this.port = port;
    this.max = 0;
    this.maxSockets = 0;
    this.maxFiles = 0;
    this.maxConns = 0;
    this.maxConnsHeld = 0;
    this.lastConns = NaN;
    this.samples = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample() {
    const k = fdKinds(this.pid);
    if (Number.isFinite(k.total)) {
      this.max = Math.max(this.max, k.total);
      this.maxSockets = Math.max(this.maxSockets, k.sockets);
      this.maxFiles = Math.max(this.maxFiles, k.files);
      const c = serverConnections(this.pid, this.port);
      if (Number.isFinite(c)) {
        this.maxConns = Math.max(this.maxConns, c);
        // held: in two samples in a row. A socket libmicrohttpd accepts while the descriptors of
        // connections it has just let go are still being closed lives a few microseconds.
        if (Number.isFinite(this.lastConns)) this.maxConnsHeld = Math.max(this.maxConnsHeld, Math.min(c, this.lastConns));
      }
      this.lastConns = c;
      this.samples++;
    }
    return k;
  }

  /** Stops; returns {max (all descriptors), maxSockets, maxFiles, maxConns (client connections in any
   * sample), maxConnsHeld (in two samples in a row), samples}. */
  stop() {
    clearInterval(this.timer);
    this.sample();
    return { max: this.max, maxSockets: this.maxSockets, maxFiles: this.maxFiles, maxConns: this.maxConns, maxConnsHeld: this.maxConnsHeld, samples: this.samples };
  }
}

/**
 * A normal client during an attack: one request at a time, each on a fresh connection (so
 * accepting new connections is measured too), alternating an authenticated getCases (a read)
 * and createCase (a durable write); latency from connect to the whole answer.
 */
export class Prober {
  constructor(server, client, cfg, { everyMs = 100, timeoutMs = 4000 } = {}) {
    this.server = server;
    this.client = client;
    this.cfg = cfg;
    this.everyMs = everyMs;
    this.timeoutMs = timeoutMs;
    this.results = [];
    this.stopped = false;
    this.loop = this.run();
  }

  async one(i) {
    const write = i % 2 === 1;
    const path = `${apiBase(this.client.stream)}${write ? 'createCase' : 'getCases'}`;
    const body = JSON.stringify(write ? caseBody(this.cfg, { name: `probe ${i}` }) : { limit: 5 });
    const bytes = buildRequest({
      path,
      headers: [['Host', `127.0.0.1:${this.server.port}`], ['Content-Type', 'application/json'], ['auth', this.client.token()],
        ['accountId', this.client.app.account], ['Connection', 'close']],
      body,
    });
    const t0 = performance.now();
    let conn;
    try {
      conn = await Promise.race([
        RawConn.open(this.server.port),
        sleep(this.timeoutMs).then(() => { throw new Error('connect timeout'); }),
      ]);
      await conn.write(bytes);
      const r = await conn.readResponse(Math.max(100, this.timeoutMs - (performance.now() - t0)));
      return { ms: performance.now() - t0, status: r.status, at: Date.now(), op: write ? 'createCase' : 'getCases' };
    } catch (e) {
      return { ms: performance.now() - t0, error: e.message.slice(0, 200), at: Date.now(), op: write ? 'createCase' : 'getCases' };
    } finally {
      conn?.destroy();
    }
  }

  async run() {
    let i = 0;
    while (!this.stopped) {
      const r = await this.one(i++);
      this.results.push(r);
      const wait = this.everyMs - r.ms;
      if (wait > 0 && !this.stopped) await sleep(wait);
    }
  }

  /** Stops and returns {n, max, p50, p99, failures[], slowest} over the requests made. */
  async stop() {
    this.stopped = true;
    await this.loop;
    return Prober.stats(this.results);
  }

  static stats(results) {
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    const q = (p) => (ms.length ? Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]) : NaN);
    return {
      n: results.length,
      max: ms.length ? Math.round(ms[ms.length - 1]) : NaN,
      p50: q(0.5),
      p99: q(0.99),
      failures: results.filter((r) => r.error || r.status !== 200),
    };
  }
}

/** Asserts a prober's figures: at least minN requests, every one 200, the slowest under maxMs. */
export function assertServed(stats, what, { maxMs = 1000, minN = 5 } = {}) {
  const f = stats.failures.slice(0, 3).map((r) => `${r.op}: ${r.error ?? `HTTP ${r.status}`} after ${Math.round(r.ms)} ms`);
  assert.ok(stats.n >= minN, `${what}: only ${stats.n} probe requests were made`);
  assert.deepEqual(f, [], `${what}: ${stats.failures.length} of ${stats.n} probe requests failed`);
  assert.ok(stats.max < maxMs, `${what}: the slowest of ${stats.n} probe requests took ${stats.max} ms (p50 ${stats.p50} ms, p99 ${stats.p99} ms); must be < ${maxMs} ms`);
}

/**
 * Opens a connection, sends opts.prefix at once, then `bytes` one byte every stepMs (the first
 * at once) until all are sent or the server closes it. Returns {conn, openedAt, sent(), stop(),
 * closedWithin(ms)}.
 */
export async function trickle(port, bytes, stepMs, { prefix } = {}) {
  const conn = await RawConn.open(port);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1');
  const openedAt = Date.now();
  if (prefix) conn.write(prefix); // sent at once (e.g. the request line), then the trickle
  let i = 0;
  const step = () => {
    if (conn.closed || i >= buf.length) { clearInterval(timer); return; }
    conn.write(buf.subarray(i, i + 1));
    i++;
  };
  const timer = setInterval(step, stepMs);
  step();
  return {
    conn,
    openedAt,
    sent: () => i,
    stop: () => { clearInterval(timer); conn.destroy(); },
    /** ms from open to the server's close, or null when still open after waiting ms. */
    async closedWithin(ms) {
      const left = openedAt + ms - Date.now();
      const closed = conn.closed || (left > 0 && await conn.waitClosed(left));
      clearInterval(timer);
      return closed ? conn.closedAt - openedAt : null;
    },
  };
}

/** Sends bytes on a fresh connection and parses only the response head (for HEAD requests). */
export async function rawHead(port, bytes, ms = 3000) {
  const conn = await RawConn.open(port);
  try {
    await conn.write(bytes);
    await conn.until(() => conn.buf.includes('\r\n\r\n') || conn.closed, ms, 'a response head');
    const text = conn.buf.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    assert.ok(end > 0, `no response head: ${JSON.stringify(text.slice(0, 200))}`);
    const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
    const headers = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]), statusLine, headers, rest: text.slice(end + 4) };
  } finally {
    conn.destroy();
  }
}
