// Test environment: a fresh temp dir + database, the casemgr CLI, and casemgr
// servers started on ephemeral ports. Every server is tracked and killed on
// dispose() and, as a last resort, when the test process exits.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID, randomBytes } from 'node:crypto';
import { before, after } from 'node:test';
import { Client } from './client.mjs';
import { PRISM, ContractProxy, takeViolations, noteUnproxied, prismValidator, deferChecks, checkDeferred } from './contract.mjs';

export const BIN = process.env.CASEMGR_BIN || new URL('../../../build/casemgr', import.meta.url).pathname;

/** Default time budget of one test (ms); every wait inside is shorter. */
export const T = { timeout: 30_000 };
/** Time budget of a before/after hook (ms). */
export const H = { timeout: 30_000 };

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const CLI_TIMEOUT_MS = 15_000;

/**
 * PostgreSQL run: CASEMGR_E2E_PG is a server URL (scripts/pg-test-cluster sets it, e.g.
 * postgres://postgres@127.0.0.1:PORT/); every environment then gets a fresh database on it.
 * Unset: every environment gets a SQLite file in its temp dir.
 */
export const PG_URL = process.env.CASEMGR_E2E_PG || '';

/** The URL of database `name` on a PostgreSQL server (default: this run's). */
export function pgDatabaseUrl(name, server = PG_URL) {
  const u = new URL(server);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Runs SQL on database URL db with psql (unaligned, tuples only); its output, or throws. */
function runPsql(db, sql, timeout) {
  return new Promise((resolve, reject) => {
    execFile('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql],
      { timeout, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`psql -c ${sql}: ${stderr || err.message}`));
        else resolve(stdout);
      });
  });
}

/** Runs one SQL statement on a server's `postgres` database with psql; throws on failure. */
export function pgAdmin(sql, { server = PG_URL, timeout = CLI_TIMEOUT_MS } = {}) {
  return runPsql(pgDatabaseUrl('postgres', server), sql, timeout);
}

/** Runs SQL on an environment's own database (env.db); its output, trimmed. */
export async function psql(db, sql, { timeout = CLI_TIMEOUT_MS } = {}) {
  return (await runPsql(db, sql, timeout)).trim();
}

if (PG_URL && !process.env.CASEMGR_KEY_FILE) {
  // Beside a SQLite database the key file defaults to <db>.key; a PostgreSQL URL has no such
  // place, so this test process's servers and CLI share one key file, as a cluster's would.
  const keyDir = mkdtempSync(join(tmpdir(), 'casemgr-e2e-key-'));
  process.env.CASEMGR_KEY_FILE = join(keyDir, 'casemgr.key');
  // written here, before any casemgr runs, so concurrent first uses never race to create it
  writeFileSync(process.env.CASEMGR_KEY_FILE, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  process.on('exit', () => rmSync(keyDir, { recursive: true, force: true }));
}

/**
 * The one place that decides which database a test environment uses: a SQLite file in the
 * environment's temp dir, or (CASEMGR_E2E_PG set, or pgServer given) a fresh database
 * casemgr_<random> on that PostgreSQL server.
 */
export async function makeDatabaseUrl(dir, pgServer = PG_URL) {
  if (!pgServer) return `sqlite:${dir}/casemgr.db`;
  const name = `casemgr_${randomBytes(8).toString('hex')}`;
  await pgAdmin(`CREATE DATABASE ${name}`, { server: pgServer });
  return pgDatabaseUrl(name, pgServer);
}

/** Drops a database makeDatabaseUrl created on a PostgreSQL server; never throws. */
async function dropDatabase(url) {
  if (!url.startsWith('postgres')) return;
  const name = new URL(url).pathname.slice(1);
  if (!/^casemgr_[0-9a-f]+$/.test(name)) return;
  try { await pgAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, { server: url }); } catch { /* the cluster goes anyway */ }
}

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export const ids = {
  stream: () => `st-${randomUUID()}`,
  org: () => `o-${randomUUID()}`,
  user: () => `u-${randomUUID()}`,
  // The vendor's account ids look like Mongo object ids (24 hex digits).
  account: () => randomBytes(12).toString('hex'),
};

export const ID_RE = {
  case: /^ci-[0-9a-f]{7}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  task: /^ti-[0-9a-f]{7}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  short: (prefix) => new RegExp(`^${prefix}-[0-9a-f]{7}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
  client: /^cs-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  iso: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
};

/** Runs the casemgr CLI; never throws on a non-zero exit. */
export function runCli(args, { env = {}, timeout = CLI_TIMEOUT_MS, cwd } = {}) {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...process.env, ...env }, timeout, cwd, maxBuffer: 16 << 20, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) code = typeof err.code === 'number' ? err.code : (err.signal ? `signal ${err.signal}` : String(err.code ?? err.message));
        resolve({ code, stdout, stderr, args });
      });
  });
}

function describeCli(r) {
  return `casemgr ${r.args.join(' ')}\n  exit: ${r.code}\n  stdout: ${r.stdout.slice(0, 2000)}\n  stderr: ${r.stderr.slice(0, 2000)}`;
}

/** Runs the CLI, demands exit 0 and one JSON value on stdout. */
export async function cliJson(args, opts) {
  const r = await runCli(args, opts);
  if (r.code !== 0) throw new Error(`CLI failed:\n${describeCli(r)}`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`CLI stdout is not one JSON value:\n${describeCli(r)}`);
  }
}

export class Server {
  constructor(proc, port, args) {
    this.proc = proc;
    this.port = port;
    this.args = args;
    /** The server itself; `base` is where clients go (its contract proxy under make e2e-contract). */
    this.direct = `http://127.0.0.1:${port}`;
    this.base = this.direct;
    this.proxy = null;
    this.stdoutText = '';
    this.stderrText = '';
    this.exited = null; // {code, signal} once the process is gone
    this.stopping = false;
    this.exitPromise = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exited = { code, signal };
        live.delete(proc);
        resolve(this.exited);
      });
    });
  }

  /** Parsed access-log lines written so far (non-JSON lines are skipped). */
  accessLog() {
    const out = [];
    for (const line of this.stdoutText.split('\n')) {
      if (!line.trim()) continue;
      try { out.push(JSON.parse(line)); } catch { /* not JSON */ }
    }
    return out;
  }

  /** Waits until pred(accessLog line) holds for some line, up to ms; returns it or undefined. */
  async waitForLog(pred, ms = 3000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.accessLog().find(pred);
      if (hit || Date.now() > deadline) return hit;
      await sleep(50);
    }
  }

  /** Sends a signal without waiting (marks the server as being stopped, so its exit is no crash). */
  signal(sig) {
    this.stopping = true;
    try { this.proc.kill(sig); } catch { /* gone */ }
  }

  /** Waits for the process to exit on its own (after signal()); SIGKILL after ms. Returns {code, signal, killed}. */
  async waitExit(ms = STOP_TIMEOUT_MS) {
    const res = await Promise.race([this.exitPromise, sleep(ms).then(() => null)]);
    if (res) return { ...res, killed: false };
    this.stopping = true;
    try { this.proc.kill('SIGKILL'); } catch { /* gone */ }
    const r2 = await Promise.race([this.exitPromise, sleep(2000).then(() => ({ code: null, signal: 'SIGKILL' }))]);
    return { ...r2, killed: true };
  }

  /** Sends a signal and waits for exit (SIGKILL after the timeout); stops its contract proxy too. Returns {code, signal, killed}. */
  async stop(signal = 'SIGTERM', ms = STOP_TIMEOUT_MS) {
    const res = await this.stopProcess(signal, ms);
    await this.proxy?.stop();
    return res;
  }

  async stopProcess(signal, ms) {
    if (this.exited) return { ...this.exited, killed: false };
    this.stopping = true;
    try { this.proc.kill(signal); } catch { /* gone */ }
    const res = await Promise.race([this.exitPromise, sleep(ms).then(() => null)]);
    if (res) return { ...res, killed: false };
    try { this.proc.kill('SIGKILL'); } catch { /* gone */ }
    const r2 = await Promise.race([this.exitPromise, sleep(2000).then(() => ({ code: null, signal: 'SIGKILL' }))]);
    return { ...r2, killed: true };
  }

  /** True when the process died on its own (crash) before anyone stopped it. */
  diedUnexpectedly() {
    return this.exited !== null && !this.stopping;
  }

  stderrTail() {
    return this.stderrText.slice(-3000);
  }

  client(app, stream = app.streams[0]) {
    return new Client(this, app, stream);
  }
}

export class Env {
  /** opts.pgServer: a PostgreSQL server URL to use instead of this run's database choice. */
  static async create({ pgServer } = {}) {
    const env = new Env();
    env.dir = await mkdtemp(join(tmpdir(), 'casemgr-e2e-'));
    env.db = await makeDatabaseUrl(env.dir, pgServer);
    return env;
  }

  constructor() {
    this.servers = [];
    this.configCache = new Map();
  }

  cli(args, opts) {
    return runCli([...args, '--db', this.db], opts);
  }

  cliJson(args, opts) {
    if (args[0] !== 'stream') this.configCache.clear();
    return cliJson([...args, '--db', this.db], opts);
  }

  /**
   * Registers an app through the CLI.
   * opts: account, streams[], scopes[], org, name, alg, enforceJti
   */
  async createApp(opts = {}) {
    const account = opts.account ?? ids.account();
    const streams = opts.streams ?? [ids.stream()];
    const args = ['app', 'create', '--account', account];
    for (const s of streams) args.push('--stream', s);
    for (const s of opts.scopes ?? []) args.push('--scope', s);
    if (opts.org) args.push('--org', opts.org);
    const name = opts.name ?? `e2e app ${randomBytes(3).toString('hex')}`;
    args.push('--name', name);
    if (opts.alg) args.push('--alg', opts.alg);
    if (opts.enforceJti) args.push('--enforce-jti');
    const out = await this.cliJson(args);
    for (const s of streams) this.configCache.delete(s);
    return {
      ...out,
      clientId: out.clientId,
      clientSecret: out.clientSecret,
      account,
      streams,
      name,
      org: opts.org,
      alg: opts.alg ?? 'HS256',
    };
  }

  /** `casemgr stream show` for a stream (cached until the next CLI change of it). */
  async streamConfig(stream) {
    if (!this.configCache.has(stream)) {
      this.configCache.set(stream, await this.cliJson(['stream', 'show', '--stream', stream]));
    }
    return this.configCache.get(stream);
  }

  forget(stream) {
    this.configCache.delete(stream);
  }

  /**
   * Starts `casemgr serve` on an ephemeral port; resolves once it printed its listening line.
   * wrapper: a command that execs the rest of its arguments (e.g. fiu-run), so the server keeps
   * the pid of the process started here.
   * contractProxy false (make e2e-contract): no Prism proxy in front, for a file that measures
   * the server's own connections and latency; its answers are checked in-process at dispose().
   */
  async startServer(extraArgs = [], { env = {}, withDbOption = true, wrapper = [], contractProxy = true } = {}) {
    if (PRISM) await prismValidator();
    const args = ['serve', '--listen', '127.0.0.1:0', ...(withDbOption ? ['--db', this.db] : []), '--threads', '2', ...extraArgs];
    const argv = [...wrapper, BIN, ...args];
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    live.add(proc);
    let stderr = '';
    let stdout = '';
    let server = null;
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => { if (server) server.stdoutText += d; else stdout += d; });
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('no listening line within 10 s')), START_TIMEOUT_MS);
      function fail(err) {
        clearTimeout(timer);
        try { proc.kill('SIGKILL'); } catch { /* gone */ }
        reject(new Error(`casemgr ${args.join(' ')}: ${err.message}\nstderr: ${stderr.slice(-2000)}\nstdout: ${stdout.slice(-1000)}`));
      }
      proc.on('error', fail);
      proc.on('exit', (code, sig) => fail(new Error(`exited early (code ${code}, signal ${sig})`)));
      proc.stderr.on('data', (d) => {
        if (server) { server.stderrText += d; return; }
        stderr += d;
        const m = /casemgr: listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
    });
    proc.removeAllListeners('error');
    proc.removeAllListeners('exit');
    server = new Server(proc, port, args);
    server.stderrText = stderr;
    server.stdoutText = stdout;
    this.servers.push(server);
    if (PRISM && !contractProxy) {
      noteUnproxied();
      deferChecks(server.port);
    }
    if (PRISM && contractProxy) {
      server.proxy = await ContractProxy.start(server.direct, live);
      server.proxy.attach(server);
      server.base = server.proxy.base;
    }
    return server;
  }

  /** Stops every server (SIGTERM, then SIGKILL) and removes the temp dir. Throws if a server had crashed. */
  async dispose() {
    const crashed = [];
    for (const s of this.servers) {
      if (s.diedUnexpectedly()) crashed.push(s);
      await s.stop('SIGTERM');
    }
    this.servers = [];
    if (!process.env.CASEMGR_E2E_KEEP && this.db) await dropDatabase(this.db);
    if (!process.env.CASEMGR_E2E_KEEP && this.dir) {
      await rm(this.dir, { recursive: true, force: true });
    }
    if (crashed.length) {
      const s = crashed[0];
      throw new Error(`server died during the test (code ${s.exited.code}, signal ${s.exited.signal})\nstderr: ${s.stderrTail()}`);
    }
    await checkDeferred();
    const broken = takeViolations(); // each failed its test already; this catches any a test swallowed
    if (broken.length) throw new Error(`${broken.length} contract violation(s); the first:\n${broken[0]}`);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs fn(i) for i in [0, n) with at most `width` in flight; returns results in order. */
export async function pool(n, width, fn) {
  const out = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  return out;
}

/**
 * One environment with one app and one server, for a describe group:
 *   const ctx = useServer({ app: {...}, serverArgs: [...], beforeStart: async (ctx) => {...} });
 *   ... ctx.env, ctx.app, ctx.server, ctx.client, ctx.cfg (stream configuration)
 * Call inside describe(); it registers before/after hooks on that suite.
 */
export function useServer({ app = {}, serverArgs = [], beforeStart } = {}) {
  const ctx = {};
  before(async () => {
    ctx.env = await Env.create();
    ctx.app = await ctx.env.createApp({ org: ids.org(), ...app });
    if (beforeStart) await beforeStart(ctx);
    ctx.cfg = await ctx.env.streamConfig(ctx.app.streams[0]);
    ctx.server = await ctx.env.startServer(serverArgs);
    ctx.client = ctx.server.client(ctx.app);
  }, H);
  after(async () => {
    await ctx.env?.dispose();
  }, H);
  return ctx;
}
