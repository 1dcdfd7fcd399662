// HTTP helpers: fetch-based API calls, exact-bytes raw-socket requests,
// request bodies, and assertions on the error envelope.
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { tokenFor } from './jwt.mjs';
import { routeRequest, routeAround, checkAnswer, checkRawAnswer } from './contract.mjs';

export const FETCH_TIMEOUT_MS = 10_000;
export const apiBase = (stream) => `/caseManagement/api/public/analytics/${stream}/`;

/**
 * fetch() with a timeout; body may be an object (sent as JSON), a string or a Buffer.
 * Returns {status, headers, text, json} (json undefined when the body is not JSON).
 */
export async function request(url, { method = 'POST', headers = {}, body, timeout = FETCH_TIMEOUT_MS } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeout) };
  if (body !== undefined) {
    init.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  }
  const send = async (to) => {
    const res = await fetch(to, init);
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  };
  // make e2e-contract: through the server's contract proxy, or around it (lib/contract.mjs)
  let route = routeRequest(url, method, init.headers, init.body);
  let out = await send(route.url);
  const around = routeAround(route, out);
  if (around) {
    route = around;
    out = await send(route.url);
  }
  await checkAnswer(route, out);
  return out;
}

/** An API client bound to one server, one app and one stream. */
export class Client {
  constructor(server, app, stream) {
    this.server = server;
    this.app = app;
    this.stream = stream;
  }

  token(extra = {}, opts = {}) {
    return tokenFor(this.app, extra, opts);
  }

  url(endpoint, stream = this.stream) {
    return `${this.server.base}${apiBase(stream)}${endpoint}`;
  }

  /**
   * POST an endpoint. opts: token (string, or null for none; default a fresh valid token),
   * claims (extra token claims), accountId (default the app's; null = no header),
   * headers, stream, method, raw body via opts.body when `body` is undefined.
   */
  post(endpoint, body, opts = {}) {
    const headers = { 'content-type': 'application/json' };
    const token = opts.token === undefined ? this.token(opts.claims ?? {}) : opts.token;
    if (token !== null) headers.auth = token;
    const accountId = opts.accountId === undefined ? this.app.account : opts.accountId;
    if (accountId !== null) headers.accountid = accountId;
    Object.assign(headers, opts.headers ?? {});
    for (const k of Object.keys(headers)) if (headers[k] === null) delete headers[k];
    return request(this.url(endpoint, opts.stream), { method: opts.method ?? 'POST', headers, body: body === undefined ? opts.body : body });
  }

  createCase(body, opts) {
    return this.post('createCase', body, opts);
  }

  createTask(body, opts) {
    return this.post('createTask', body, opts);
  }

  /** createCase that must succeed; returns the document. */
  async newCase(cfg, over = {}, opts = {}) {
    const r = await this.createCase(caseBody(cfg, over), opts);
    assertOk(r, 'createCase');
    return r.json;
  }

  /** createTask that must succeed; returns the document. */
  async newTask(cfg, theCase, over = {}, opts = {}) {
    const r = await this.createTask(taskBody(cfg, theCase, over), opts);
    assertOk(r, 'createTask');
    return r.json;
  }
}

export const DAY = 86_400_000;

/** A valid createCase body for a stream configuration (from `stream show`). */
export function caseBody(cfg, over = {}) {
  const body = {
    caseTmp: cfg.caseTemplates[0]._id,
    name: 'Printer on fire',
    desc: 'Third floor, near the kitchen',
    userInfo: { _id: `u-${randomUUID()}`, name: 'Dana Reyes' },
    source: 'rtm',
    dueDate: Date.now() + 2 * DAY,
    ...over,
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

/** A valid createTask body for a case document. */
export function taskBody(cfg, theCase, over = {}) {
  const body = {
    caseId: theCase._id,
    caseRefId: theCase.refId,
    taskTmp: cfg.taskTemplates[0]._id,
    userInfo: { _id: `u-${randomUUID()}`, name: 'Sam Ortiz' },
    source: 'rtm',
    ...over,
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

function show(r) {
  return `HTTP ${r.status} ${r.text?.slice(0, 1500)}`;
}

export const JSON_CT = /^application\/json;\s*charset=utf-8$/i;

export function assertOk(r, what = 'request') {
  assert.equal(r.status, 200, `${what}: expected 200, got ${show(r)}`);
  assert.ok(r.json && typeof r.json === 'object', `${what}: body is not JSON: ${show(r)}`);
}

/**
 * Asserts the error envelope: HTTP status, {"errors":[{msg, code, reason, field?}]}.
 * reason may be a string or an array of acceptable reasons; field (when given) a
 * string, a RegExp, or a function.
 */
export function assertError(r, status, reason, field) {
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(r.status), `expected HTTP ${statuses.join('|')}${reason ? ` (${reason})` : ''}, got ${show(r)}`);
  assert.match(r.headers.get('content-type') ?? '', JSON_CT, `error content-type: ${r.headers.get('content-type')}`);
  assert.ok(r.json && Array.isArray(r.json.errors) && r.json.errors.length >= 1, `not an error envelope: ${show(r)}`);
  const e = r.json.errors[0];
  assert.equal(typeof e.msg, 'string', `errors[0].msg not a string: ${show(r)}`);
  assert.ok(e.msg.length > 0, 'errors[0].msg empty');
  assert.equal(e.code, r.status, `errors[0].code must be the HTTP status: ${show(r)}`);
  assert.equal(typeof e.reason, 'string', `errors[0].reason missing: ${show(r)}`);
  if (reason) {
    const reasons = Array.isArray(reason) ? reason : [reason];
    assert.ok(reasons.includes(e.reason), `expected reason ${reasons.join('|')}, got ${show(r)}`);
  }
  if (field !== undefined) {
    if (field instanceof RegExp) assert.match(String(e.field), field, `field: ${show(r)}`);
    else if (typeof field === 'function') assert.ok(field(e.field), `field: ${show(r)}`);
    else assert.equal(e.field, field, `expected field ${field}: ${show(r)}`);
  }
  return e;
}

// ---------------------------------------------------------------- raw sockets

/** Opens a TCP connection (rejects after timeout). */
export function connect(port, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('connect timeout')); }, timeout);
    sock.once('connect', () => { clearTimeout(timer); resolve(sock); });
    sock.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/**
 * Wraps a socket: collects bytes, tracks end/close, parses responses.
 */
export class RawConn {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.closedAt = null;
    this.error = null;
    this.waiters = new Set();
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
    const done = () => {
      if (!this.closed) { this.closed = true; this.closedAt = Date.now(); }
      this.wake();
    };
    sock.on('end', done);
    sock.on('close', done);
    sock.on('error', (e) => { this.error = e; done(); });
  }

  static async open(port) {
    return new RawConn(await connect(port));
  }

  wake() {
    for (const w of this.waiters) w();
  }

  /** Waits until pred() is truthy (re-checked on every event), or rejects after ms. */
  until(pred, ms, what = 'condition') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try { v = pred(); } catch (e) { cleanup(); reject(e); return; }
        if (v) { cleanup(); resolve(v); }
      };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`timeout after ${ms} ms waiting for ${what}; received: ${JSON.stringify(this.buf.toString('latin1').slice(0, 500))}`)); }, ms);
      const cleanup = () => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  write(data) {
    return new Promise((resolve) => {
      if (this.closed || this.sock.destroyed) { resolve(false); return; }
      this.sock.write(data, (err) => resolve(!err));
    });
  }

  /** Waits for one complete response; returns {status, statusLine, headers (lower-case map), body (Buffer), json}. */
  async readResponse(ms = 5000) {
    const parsed = await this.until(() => {
      const r = parseResponse(this.buf, this.closed);
      if (!r && this.closed) throw new Error(`connection closed before a complete response; received: ${JSON.stringify(this.buf.toString('latin1').slice(0, 500))}`);
      return r;
    }, ms, 'a response');
    this.buf = this.buf.subarray(parsed.consumed);
    return parsed;
  }

  /** Resolves true when the peer closes within ms, false otherwise. */
  async waitClosed(ms) {
    try {
      await this.until(() => this.closed, ms, 'close');
      return true;
    } catch {
      return false;
    }
  }

  destroy() {
    this.sock.destroy();
  }
}

/** Parses one HTTP/1.x response from buf; null when incomplete. */
export function parseResponse(buf, closed) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const [statusLine, ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const start = end + 4;
  let body;
  let consumed;
  if (headers['transfer-encoding'] && /chunked/i.test(headers['transfer-encoding'])) {
    const chunks = [];
    let p = start;
    for (;;) {
      const le = buf.indexOf('\r\n', p);
      if (le < 0) return null;
      const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (size === 0) {
        const te = buf.indexOf('\r\n\r\n', le);
        if (te < 0) { if (buf.length >= le + 4) { consumed = le + 4; break; } return null; }
        consumed = te + 4;
        break;
      }
      if (buf.length < le + 2 + size + 2) return null;
      chunks.push(buf.subarray(le + 2, le + 2 + size));
      p = le + 2 + size + 2;
    }
    body = Buffer.concat(chunks);
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (buf.length < start + n) return null;
    body = buf.subarray(start, start + n);
    consumed = start + n;
  } else {
    if (!closed) return null;
    body = buf.subarray(start);
    consumed = buf.length;
  }
  let json;
  try { json = JSON.parse(body.toString('utf8')); } catch { json = undefined; }
  return { status: Number(m[1]), statusLine, headers, body, json, text: body.toString('utf8'), consumed };
}

/**
 * Builds request bytes with exact header names and order.
 * headers: array of [name, value]; body: string|Buffer (Content-Length is NOT added automatically
 * unless opts.autoLength).
 */
export function buildRequest({ method = 'POST', path, version = 'HTTP/1.1', headers = [], body, autoLength = true }) {
  const h = [...headers];
  const b = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  if (autoLength && body !== undefined && !h.some(([k]) => k.toLowerCase() === 'content-length')) h.push(['Content-Length', String(b.length)]);
  const head = `${method} ${path} ${version}\r\n${h.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

/** One request on a fresh connection; returns the parsed response plus the RawConn. */
export async function rawRequest(port, bytes, ms = 5000) {
  const conn = await RawConn.open(port);
  try {
    await conn.write(bytes);
    const res = await conn.readResponse(ms);
    await checkRawAnswer(port, bytes, res); // make e2e-contract: the answer against the contract
    return { ...res, conn };
  } catch (e) {
    conn.destroy();
    throw e;
  }
}

/** Fake response-like adapter so assertError works on raw responses. */
export function asFetchLike(raw) {
  return {
    status: raw.status,
    text: raw.text,
    json: raw.json,
    headers: { get: (k) => raw.headers[k.toLowerCase()] ?? null },
  };
}

/** Finds a template field by its display name (case-insensitive). */
export function fieldByName(fields, name) {
  const n = name.toLowerCase();
  return fields.find((f) => String(f.displayName ?? f.metaData?.displayName ?? f.name ?? '').toLowerCase() === n
    || String(f.metaData?.displayName ?? '').toLowerCase() === n);
}

export function statusNamed(cfg, name) {
  return cfg.statuses.find((s) => s.name === name);
}

export function priorityNamed(cfg, name) {
  return cfg.priorities.find((p) => p.name === name);
}
