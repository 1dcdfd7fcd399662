// The contract check of `make e2e-contract` (CASEMGR_E2E_PRISM=1): every server the suite starts
// gets a Prism proxy in front, the equivalent of `prism proxy docs/openapi.yaml <server>` (see
// lib/prism-host.mjs: Prism's own server, validator and forwarder, one process per test file),
// and server.base is the proxy's URL, so the suite's fetch-based requests go through it. Prism
// validates each request and each answer against docs/openapi.yaml and reports what it found in
// the `sl-violations` header of the answer; this file reads that header on every answer and
// fails the test on:
//   * any response violation (a body, header, status or media type the contract does not allow);
//   * a request violation the server accepted (a status below 400): the contract refuses what the
//     server serves. A request the contract refuses and the server refuses too (a 4xx) is one of
//     the suite's deliberate bad requests, and only its answer is held to the contract.
// Prism runs without --errors: with it, Prism answers a request violation itself (422) instead of
// forwarding it, so the suite's bad requests would never reach casemgr.
//
// Prism re-parses a JSON body and forwards JSON.stringify of it. A body that would not arrive
// byte for byte (invalid JSON, a duplicate member, spacing, invalid UTF-8 or another charset, a
// top-level scalar) goes straight to the server instead, and so do HEAD requests (Prism cannot
// forward an empty JSON answer) and requests with headers over 8 KiB (Node's own header limit
// would answer first). Their answers, and those of the raw-socket helper rawRequest(), are
// validated here in-process with Prism's own router and validator, so every answer the suite
// reads through request() or rawRequest() is checked. Counted, not checked: answers to paths
// that name no endpoint (no operation of the contract describes them) and libmicrohttpd's own
// answers (README.md, known gaps). Raw sockets the suite drives by hand (framing, keep-alive,
// slow clients) never meet Prism, and a file that measures the server's own connections and
// latency under attack (41-slow-clients) starts its server without a proxy, which would add
// connections and CPU to what it measures: its answers are checked in-process.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { inspect } from 'node:util';

export const PRISM = process.env.CASEMGR_E2E_PRISM === '1';

const ROOT = new URL('../../../', import.meta.url).pathname;
export const CONTRACT = join(ROOT, 'docs/openapi.yaml');
export const PRISM_CLI = join(ROOT, 'node_modules/@stoplight/prism-cli/dist/index.js');
const START_TIMEOUT_MS = 30_000;
/** Prism reads at most 10 MB of body; Node's default header limit is 16 KiB. */
const PRISM_BODY_MAX = 10_000_000;
const PRISM_HEADERS_MAX = 8192;

const requireHere = createRequire(import.meta.url);

// ------------------------------------------------------------------ bookkeeping

const stats = { proxied: 0, bypassed: {}, local: 0, unchecked: {}, proxies: 0, unproxied: 0, violations: 0 };
/** Violations found in this test process (each also thrown where it was found). */
export const violations = [];

function count(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

/** proxy port -> the server it stands in front of */
const byProxyPort = new Map();

if (PRISM) {
  process.on('exit', () => {
    const file = process.env.CASEMGR_E2E_CONTRACT_STATS;
    if (file) {
      const line = { file: process.argv[1]?.split('/').pop(), ...stats };
      try { appendFileSync(file, `${JSON.stringify(line)}\n`); } catch { /* best effort */ }
    }
  });
}

export class ContractViolation extends Error {}

function fail(what, detail) {
  const msg = `contract (docs/openapi.yaml): ${what}\n${detail}`;
  violations.push(msg);
  stats.violations++;
  throw new ContractViolation(msg);
}

/** Counts a server started without a proxy (Env.startServer's contractProxy: false). */
export function noteUnproxied() {
  stats.unproxied++;
}

/** Takes (and clears) the violations found so far; for Env.dispose(). */
export function takeViolations() {
  return violations.splice(0);
}

// ------------------------------------------------------------------ the proxies

const PRISM_HOST = join(ROOT, 'tests/e2e/lib/prism-host.mjs');

/** The prism-host process of this test process (lib/prism-host.mjs), started on first use. */
class PrismHost {
  static async get(live) {
    PrismHost.current ??= PrismHost.start(live);
    return PrismHost.current;
  }

  static async start(live) {
    const host = new PrismHost();
    const proc = spawn(process.execPath, [PRISM_HOST, CONTRACT], { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(proc);
    host.proc = proc;
    host.waiters = [];
    host.stderr = '';
    host.buf = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { host.stderr = (host.stderr + d).slice(-4000); });
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      host.buf += d;
      let nl;
      while ((nl = host.buf.indexOf('\n')) >= 0) {
        const line = host.buf.slice(0, nl);
        host.buf = host.buf.slice(nl + 1);
        host.waiters.shift()?.resolve(line);
      }
    });
    proc.on('exit', (code, sig) => {
      live.delete(proc);
      for (const w of host.waiters.splice(0)) w.reject(new Error(`prism-host exited (code ${code}, signal ${sig}): ${host.stderr}`));
      PrismHost.current = null;
    });
    proc.stdin.on('error', () => { /* exited; the waiters are told */ });
    // the host must not keep the test process alive: a pending answer's timer does meanwhile
    proc.unref();
    for (const s of [proc.stdin, proc.stdout, proc.stderr]) s.unref?.();
    const ready = await host.next(START_TIMEOUT_MS);
    if (ready !== 'ready') throw new Error(`prism-host did not start: ${ready} ${host.stderr}`);
    return host;
  }

  next(ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`prism-host: no answer within ${ms} ms: ${this.stderr}`)), ms);
      this.waiters.push({ resolve: (v) => { clearTimeout(timer); resolve(v); }, reject: (e) => { clearTimeout(timer); reject(e); } });
    });
  }

  ask(line) {
    const answer = this.next(START_TIMEOUT_MS);
    this.proc.stdin.write(`${line}\n`);
    return answer;
  }
}

/** A Prism proxy in front of a casemgr server (one of this process's prism-host). */
export class ContractProxy {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
  }

  /** A new proxy validating against the contract in front of upstream. `live` tracks the host process for the exit handler. */
  static async start(upstream, live) {
    const host = await PrismHost.get(live);
    const answer = await host.ask(`open ${upstream}`);
    const port = Number(answer);
    if (!Number.isInteger(port) || port <= 0) throw new Error(`prism-host: open ${upstream}: ${answer}`);
    stats.proxies++;
    return new ContractProxy(host, port);
  }

  /** Registers the server behind it, so request() can route around it when it must. */
  attach(server) {
    this.server = server;
    byProxyPort.set(this.port, server);
  }

  async stop() {
    if (!byProxyPort.delete(this.port)) return;
    try { await this.host.ask(`close ${this.port}`); } catch { /* the host is gone */ }
  }
}

// ------------------------------------------------------------------ routing a fetch request

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isJsonType(ct) {
  return Boolean(requireHere('type-is').is(ct, ['application/json', 'application/*+json']));
}

/**
 * Why Prism cannot carry this request faithfully, or null when it can. Prism forwards a JSON
 * body as JSON.stringify(JSON.parse(body)) and any other body as UTF-8 text.
 */
function bypassReason(method, headers, body) {
  if (method.toUpperCase() === 'HEAD') return 'HEAD (Prism cannot forward an empty JSON answer)';
  let size = 0;
  for (const [k, v] of Object.entries(headers)) size += k.length + String(v).length + 4;
  if (size > PRISM_HEADERS_MAX) return 'headers over 8 KiB (Node\'s header limit would answer first)';
  if (body === undefined || body === null) return null;
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  if (bytes.length === 0) return null;
  if (bytes.length > PRISM_BODY_MAX) return 'body over Prism\'s 10 MB';
  let text;
  try { text = utf8.decode(bytes); } catch { return 'body not UTF-8'; }
  const ct = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  if (ct === undefined) return 'body without Content-Type (Prism would add text/plain)';
  if (!isJsonType(String(ct))) return null; // forwarded as text, unchanged
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(String(ct))?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) return 'body in another charset than UTF-8 (Prism would decode it so)';
  let value;
  try { value = JSON.parse(text); } catch { return 'body not JSON'; }
  if (value === null || typeof value !== 'object') return 'body a JSON scalar (Prism forwards it changed)';
  let again;
  try { again = JSON.stringify(value); } catch { return 'body nested too deeply for a JSON round trip'; }
  if (again !== text) return 'body not byte-identical after a JSON round trip (spacing, duplicate member, number or escape)';
  return null;
}

/**
 * Decides where a request() goes: through the proxy it names, or (for what Prism cannot carry)
 * straight to the server behind it. Returns {url, proxied, local} — local: validate the answer
 * in-process.
 */
export function routeRequest(url, method, headers, body) {
  if (!PRISM) return { url, proxied: false, local: false };
  const u = new URL(url);
  const server = byProxyPort.get(Number(u.port));
  if (!server) return { url, proxied: false, local: true, path: u.pathname, method, port: Number(u.port) }; // a direct URL
  const why = bypassReason(method, headers, body);
  if (!why) {
    stats.proxied++;
    return { url, proxied: true, local: false, path: u.pathname, method };
  }
  count(stats.bypassed, why);
  u.port = String(server.port);
  return { url: u.toString(), proxied: false, local: true, path: u.pathname, method, port: server.port };
}

/**
 * When Prism could not forward a request (the server refused the connection, or reset it: a
 * 413 answered before the body was read closes the connection under Prism's forwarder, where a
 * direct client reads the answer), the route to send it again straight to the server, whose
 * answer is then checked in-process; else null. A refused connection is refused again, so a test
 * that expects that still sees it.
 */
export function routeAround(route, res) {
  if (!route.proxied || !/^application\/problem\+json/i.test(res.headers.get('content-type') ?? '')) return null;
  if (!/ECONNREFUSED|ECONNRESET|EPIPE|socket hang up/.test(res.text)) return null;
  const u = new URL(route.url);
  const server = byProxyPort.get(Number(u.port));
  if (!server) return null;
  stats.proxied--;
  count(stats.bypassed, 'sent again around Prism, which could not reach the server (refused or reset: a killed server, a 413 before the body)');
  u.port = String(server.port);
  return { ...route, url: u.toString(), proxied: false, local: true, port: server.port };
}

// ------------------------------------------------------------------ checking an answer

function show(what) {
  return inspect(what, { depth: 6, breakLength: 160, maxStringLength: 400 });
}

/** The body as Prism's forwarder reads it: JSON for a JSON media type, else text. */
function bodyOf(contentType, text) {
  if (contentType && isJsonType(contentType)) {
    try { return JSON.parse(text); } catch { return text; }
  }
  return text;
}

let validator;
/**
 * Prism's own router and response validator over docs/openapi.yaml, loaded once. Env.startServer
 * loads it before the first server starts: loading blocks the event loop for a second or two,
 * which in the middle of a test would let a server's short idle timeout close the connections a
 * client keeps alive.
 */
export function prismValidator() {
  validator ??= (async () => {
    const http = requireHere('@stoplight/prism-http');
    const route = requireHere('@stoplight/prism-http/dist/router').default;
    const { validateOutput } = requireHere('@stoplight/prism-http/dist/validator');
    const resources = await http.getHttpOperationsFromSpec(CONTRACT);
    return { route, validateOutput, resources };
  })();
  return validator;
}

/**
 * Validates one answer in-process as the proxy would. headers: a plain object (any case).
 * Returns the violations ([] when none), or null when no operation of the contract matches.
 */
export async function validateLocally({ method, path, status, headers, text }) {
  const { route, validateOutput, resources } = await prismValidator();
  const r = route({ resources, input: { method: method.toLowerCase(), url: { path: path.split('?')[0] } } });
  if (r._tag === 'Left') return null;
  const lower = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const element = { statusCode: status, headers: lower, body: bodyOf(lower['content-type'], text) };
  const v = validateOutput({ resource: r.right, element });
  return v._tag === 'Left' ? v.left : [];
}

/** Direct ports of servers whose answers are checked at dispose, not at once (deferChecks). */
const deferredPorts = new Set();
const pending = [];

/**
 * Answers from the server on port are checked when the environment is disposed: for a file that
 * measures latency and connections, which checking in the middle (CPU in the client's process)
 * would disturb.
 */
export function deferChecks(port) {
  deferredPorts.add(port);
}

/** Checks one answer in-process now, or queues it (deferChecks). answer: {method, path, status, headers, text}. */
async function checkLocally(port, answer, what) {
  if (deferredPorts.has(port)) {
    pending.push({ answer, what });
    return;
  }
  const found = await validateLocally(answer);
  if (found === null) { count(stats.unchecked, 'no operation of the contract (unknown path)'); return; }
  stats.local++;
  if (found.length) fail(`${what}: ${answer.method} ${answer.path} -> HTTP ${answer.status}`, `${show(found)}\nbody: ${answer.text.slice(0, 600)}`);
}

/** Checks the queued answers (deferChecks); their violations join takeViolations(). */
export async function checkDeferred() {
  for (const { answer, what } of pending.splice(0)) {
    try {
      await checkLocally(-1, answer, what);
    } catch (e) {
      if (!(e instanceof ContractViolation)) throw e;
    }
  }
}

function headersObject(h) {
  const out = {};
  h.forEach((v, k) => { out[k] = v; });
  return out;
}

/**
 * Checks the answer to a request routeRequest() routed; throws ContractViolation. res is
 * {status, headers (fetch Headers), text}.
 */
export async function checkAnswer(route, res) {
  if (!PRISM) return;
  const where = `${route.method} ${route.path} -> HTTP ${res.status}`;
  if (route.local) {
    const answer = { method: route.method, path: route.path, status: res.status, headers: headersObject(res.headers), text: res.text };
    await checkLocally(route.port, answer, 'the answer breaks the contract (checked in-process)');
    return;
  }
  if (!res.headers.get('x-request-id')) fail(`an answer of Prism's own, not the server's: ${where}`, res.text.slice(0, 1500));
  const raw = res.headers.get('sl-violations');
  if (!raw) return;
  let list;
  try {
    list = JSON.parse(raw);
  } catch {
    // over 8 KiB Prism cuts the header: judge the response in-process, the request by the status
    if (res.status < 400) fail(`the server accepted a request the contract refuses: ${where}`, raw.slice(0, 1500));
    const found = await validateLocally({ method: route.method, path: route.path, status: res.status, headers: headersObject(res.headers), text: res.text });
    if (found?.length) fail(`the answer breaks the contract: ${where}`, `${show(found)}\nbody: ${res.text.slice(0, 600)}`);
    return;
  }
  const response = list.filter((v) => v.location?.[0] === 'response');
  const request = list.filter((v) => v.location?.[0] !== 'response');
  if (response.length) fail(`the answer breaks the contract: ${where}`, `${show(response)}\nbody: ${res.text.slice(0, 600)}`);
  if (request.length && res.status < 400) fail(`the server accepted a request the contract refuses: ${where}`, show(request));
}

/**
 * Validates the answer to raw request bytes (rawRequest()) in-process: the method and path from
 * the request line. libmicrohttpd's own HTML answers (README.md, Known gaps) are counted, not
 * checked.
 */
export async function checkRawAnswer(port, bytes, res) {
  if (!PRISM) return;
  const line = bytes.subarray(0, Math.max(0, bytes.indexOf('\r\n'))).toString('latin1');
  const m = /^([A-Z]+) (\/\S*) HTTP\/1\.[01]$/.exec(line);
  if (!m) { count(stats.unchecked, 'raw request line not METHOD /path HTTP/1.x'); return; }
  if (!res.headers['x-request-id'] && !/^application\/json/i.test(res.headers['content-type'] ?? '')) {
    count(stats.unchecked, 'libmicrohttpd\'s own answer (README.md, known gaps)');
    return;
  }
  const answer = { method: m[1], path: m[2], status: res.status, headers: res.headers, text: res.text };
  await checkLocally(port, answer, 'the answer to a raw request breaks the contract');
}
