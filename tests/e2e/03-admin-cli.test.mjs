// Administration command line (API.md §4, §9): apps, tokens, stream
// configuration, templates, statuses, priorities.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Env, ids, T, H, ID_RE, runCli, psql } from './lib/env.mjs';
import { decodeJwt } from './lib/jwt.mjs';
import { caseBody, assertOk, assertError } from './lib/client.mjs';

function assertCliError(r, what) {
  assert.notEqual(r.code, 0, `${what}: expected a non-zero exit, got 0 with stdout ${r.stdout}`);
  assert.equal(r.stdout.trim(), '', `${what}: stdout must stay empty on error, got ${r.stdout}`);
  assert.ok(r.stderr.trim().length > 0, `${what}: an error message is expected on stderr`);
}

const STATUSES = [
  ['Open', 'open'], ['In-Progress', 'inProgress'], ['On-Hold', 'inProgress'], ['Resolved', 'resolved'], ['Closed', 'closed'],
];
const PRIORITIES = [['Low', 5, '#2563EB'], ['Medium', 10, '#16A34A'], ['High', 13, '#EA580C'], ['Critical', 15, '#DC2626']];
const SYSTEM_FIELDS = [['Title', 'input'], ['Description', 'textarea'], ['Due Date', 'datetime']];

function fieldType(f) {
  return [f.dataType, f.metaData?.type];
}

function findField(fields, display) {
  return fields.find((f) => f.displayName === display || f.metaData?.displayName === display || f.metaData?.name === display);
}

describe('03 admin cli: apps', () => {
  let env;
  before(async () => { env = await Env.create(); }, H);
  after(async () => { await env?.dispose(); }, H);

  it('app create prints one JSON object with the app (default scope caseManagement)', T, async () => {
    const account = ids.account();
    const stream = ids.stream();
    const r = await env.cli(['app', 'create', '--account', account, '--stream', stream, '--name', 'Helpdesk bot']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(typeof out, 'object');
    assert.match(out.clientId, ID_RE.client);
    assert.equal(typeof out.clientSecret, 'string');
    assert.ok(out.clientSecret.length >= 32, `clientSecret too short: ${out.clientSecret.length}`);
    assert.equal(out.accountId, account);
    assert.deepEqual(out.streams, [stream]);
    assert.deepEqual(out.scopes, ['caseManagement']);
  });

  it('several streams, explicit scopes, distinct ids and secrets', T, async () => {
    const [sA, sB] = [ids.stream(), ids.stream()];
    const a = await env.cliJson(['app', 'create', '--account', ids.account(), '--stream', sA, '--stream', sB, '--org', ids.org()]);
    assert.deepEqual([...a.streams].sort(), [sA, sB].sort());
    const b = await env.cliJson(['app', 'create', '--account', ids.account(), '--stream', sA, '--scope', 'other']);
    assert.deepEqual(b.scopes, ['other']);
    assert.notEqual(a.clientId, b.clientId);
    assert.notEqual(a.clientSecret, b.clientSecret);
  });

  it('app list prints a JSON array of apps without secrets', T, async () => {
    const a = await env.createApp();
    const b = await env.createApp();
    const r = await env.cli(['app', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout);
    assert.ok(Array.isArray(list));
    const listed = list.map((x) => x.clientId);
    assert.ok(listed.includes(a.clientId) && listed.includes(b.clientId), `list lacks created apps: ${r.stdout}`);
    assert.ok(!r.stdout.includes(a.clientSecret) && !r.stdout.includes(b.clientSecret), 'app list leaks a clientSecret');
    for (const x of list) assert.equal(x.clientSecret, undefined);
  });

  it('app revoke exits 0; an unknown client id fails cleanly', T, async () => {
    const a = await env.createApp();
    const r = await env.cli(['app', 'revoke', a.clientId]);
    assert.equal(r.code, 0, r.stderr);
    assertCliError(await env.cli(['app', 'revoke', `cs-${crypto.randomUUID()}`]), 'revoke unknown');
  });

  it('bad arguments fail with a message on stderr and nothing on stdout', T, async () => {
    assertCliError(await env.cli(['app', 'create', '--stream', ids.stream()]), 'no --account');
    assertCliError(await env.cli(['app', 'create', '--account', ids.account()]), 'no --stream');
    assertCliError(await env.cli(['app', 'create', '--account', ids.account(), '--stream', 'st bad/id']), 'malformed stream id');
    assertCliError(await env.cli(['app', 'create', '--account', ids.account(), '--stream', ids.stream(), '--alg', 'none']), '--alg none');
    assertCliError(await env.cli(['no-such-command']), 'unknown subcommand');
  });

  it('an account or scope a header cannot carry is refused; a repeated stream or scope is kept once', T, async () => {
    // HTTP trims the spaces around a header value and has no place for control bytes: such an
    // app was stored, and every request of its clients answered 403
    for (const bad of [' acc-sp ', 'acc\tx', 'acc\x01', 'é-acc', 'a'.repeat(257)]) {
      assertCliError(await env.cli(['app', 'create', '--account', bad, '--stream', ids.stream()]), `--account ${JSON.stringify(bad)}`);
    }
    assertCliError(await env.cli(['app', 'create', '--account', ids.account(), '--stream', ids.stream(), '--scope', '']), 'empty --scope');
    const stream = ids.stream();
    const app = await env.cliJson(['app', 'create', '--account', ids.account(), '--stream', stream, '--stream', stream, '--scope', 'caseManagement', '--scope', 'caseManagement']);
    assert.deepEqual(app.streams, [stream]);
    assert.deepEqual(app.scopes, ['caseManagement']);
    const stored = (await env.cliJson(['app', 'list'])).find((x) => x.clientId === app.clientId);
    assert.deepEqual(stored.streams, [stream]);
  });

  it('a missing key file is made only while the database holds no app (serve and app create refuse it after)', T, async () => {
    // a new key would have made every existing app's secret wrong: each of their requests 401
    await env.createApp();
    const missing = `${env.dir}/missing.key`;
    const serve = await env.cli(['serve', '--listen', '127.0.0.1:0', '--key-file', missing]);
    assert.equal(serve.code, 1, `serve: ${serve.stderr}`);
    assert.match(serve.stderr, /missing, and the database holds \d+ apps?/);
    assertCliError(await env.cli(['app', 'create', '--account', ids.account(), '--stream', ids.stream(), '--key-file', missing]), 'app create with the key file gone');
    await assert.rejects(stat(missing), 'no key file was made');
    const fresh = await Env.create();
    try {
      const made = `${fresh.dir}/made.key`;
      const first = await fresh.cli(['app', 'create', '--account', ids.account(), '--stream', ids.stream(), '--key-file', made]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal((await stat(made)).mode & 0o777, 0o600);
    } finally {
      await fresh.dispose();
    }
  });

  it('processes starting together on a new database all start: one migrates it, one key is made', { timeout: 120_000 }, async () => {
    // SQLite: each process ran the migrations it had read as missing, and one died on "table apps
    // already exists"; a server read the key file another had created but not yet written
    for (let round = 0; round < 6; round++) {
      const fresh = await Env.create();
      try {
        const key = `${fresh.dir}/race.key`;
        const account = ids.account(), stream = ids.stream();
        // allSettled: a server that starts after another failed is still stopped by dispose()
        const started = await Promise.allSettled([
          fresh.startServer(['--key-file', key, '--workers', '2']),
          fresh.startServer(['--key-file', key, '--workers', '2']),
          fresh.cli(['app', 'create', '--account', account, '--stream', stream, '--key-file', key]),
        ]);
        for (const r of started) if (r.status === 'rejected') throw r.reason;
        const [a, b, made] = started.map((r) => r.value);
        assert.equal(made.code, 0, `round ${round}: app create: ${made.stderr}`);
        const app = { ...JSON.parse(made.stdout), account, streams: [stream], alg: 'HS256' };
        for (const server of [a, b]) {
          const r = await server.client(app).post('getCases', {});
          assert.equal(r.status, 200, `round ${round}: ${JSON.stringify(r.json)}`);
        }
      } finally {
        await fresh.dispose();
      }
    }
  });

  it('four app creates at once on a new SQLite file all succeed, 25 times', { timeout: 120_000 }, async () => {
    // turning a new file to WAL, SQLite answered one of two processes doing it at once "database
    // is locked" without waiting: 9 of 240 processes failed (make test's PostgreSQL-less leg once)
    const root = mkdtempSync(join(tmpdir(), 'casemgr-wal-race-'));
    try {
      for (let round = 0; round < 25; round++) {
        const db = `sqlite:${root}/r${round}.db`;
        const runs = await Promise.all([1, 2, 3, 4].map((j) => runCli(['app', 'create', '--db', db, '--key-file', `${root}/r${round}.key`,
          '--account', ids.account(), '--stream', ids.stream()])));
        runs.forEach((r, j) => assert.equal(r.code, 0, `round ${round}, process ${j}: ${r.stderr}`));
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('commands that only read refuse an older schema instead of upgrading it under an older server', T, async (t) => {
    // app list had migrated the file under the older server still using it; that server's next
    // writes then missed what the migration had started to index
    const fresh = await Env.create();
    try {
      const app = await fresh.createApp();
      const file = fresh.db.startsWith('sqlite:') ? fresh.db.slice('sqlite:'.length) : null;
      const setVersion = async (v) => {
        if (file) execFileSync('sqlite3', [file, `PRAGMA user_version = ${v}`]);
        else await psql(fresh.db, `UPDATE casemgr_schema SET version = ${v}`);
      };
      const getVersion = async () => Number(file ? execFileSync('sqlite3', [file, 'PRAGMA user_version'], { encoding: 'utf8' }).trim()
        : await psql(fresh.db, 'SELECT version FROM casemgr_schema'));
      const current = await getVersion();
      await setVersion(current - 1);
      for (const args of [['app', 'list'], ['stream', 'show', '--stream', app.streams[0]], ['app', 'revoke', app.clientId],
        ['token', '--client-id', app.clientId, '--client-secret', app.clientSecret]]) {
        const r = await fresh.cli(args);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
        assert.match(r.stderr, new RegExp(`schema is version ${current - 1}, older than this casemgr's ${current}`), args.join(' '));
        assert.equal(await getVersion(), current - 1, `${args.join(' ')} left the schema as it was`);
      }
      await setVersion(current);
      assert.equal((await fresh.cli(['app', 'list'])).code, 0, 'and read it once it is current');
    } finally {
      await fresh.dispose();
    }
  });

  it('the database can come from CASEMGR_DB', T, async () => {
    const account = ids.account();
    const r = await runCli(['app', 'create', '--account', account, '--stream', ids.stream()], { env: { CASEMGR_DB: env.db } });
    assert.equal(r.code, 0, r.stderr);
    const made = JSON.parse(r.stdout);
    const list = await env.cliJson(['app', 'list']);
    assert.ok(list.some((x) => x.clientId === made.clientId), 'app created through CASEMGR_DB not visible with --db');
  });

  it('the key file defaults to <db path>.key with mode 0600', T, async (t) => {
    if (!env.db.startsWith('sqlite:')) { t.skip('SQLite only'); return; }
    await env.createApp();
    const st = await stat(`${env.db.slice('sqlite:'.length)}.key`);
    assert.equal(st.mode & 0o777, 0o600, `key file mode ${(st.mode & 0o777).toString(8)}`);
  });
});

describe('03 admin cli: token', () => {
  let env, app, server, cfg;
  before(async () => {
    env = await Env.create();
    app = await env.createApp();
    cfg = await env.streamConfig(app.streams[0]);
    server = await env.startServer();
  }, H);
  after(async () => { await env?.dispose(); }, H);

  it('casemgr token prints a JWT that the server accepts', T, async () => {
    const r = await env.cli(['token', '--client-id', app.clientId, '--client-secret', app.clientSecret, '--sub', 'u-cli-user', '--ttl', '600']);
    assert.equal(r.code, 0, r.stderr);
    const tok = r.stdout.trim();
    assert.match(tok, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const { header, payload, signature } = decodeJwt(tok);
    assert.equal(header.alg, 'HS256');
    assert.equal(payload.appId, app.clientId);
    assert.equal(payload.sub, 'u-cli-user');
    assert.equal(typeof payload.iat, 'number');
    assert.equal(payload.exp - payload.iat, 600);
    const [h, p] = tok.split('.');
    assert.equal(signature, createHmac('sha256', app.clientSecret).update(`${h}.${p}`).digest('base64url'), 'signature is HMAC-SHA256 keyed by the secret');
    const res = await server.client(app).createCase(caseBody(cfg), { token: tok });
    assertOk(res);
    assert.equal(res.json.createdBy._id, 'u-cli-user');
  });

  it('casemgr token refuses a wrong secret, an unknown or revoked app and another algorithm (exit 1, no token)', T, async () => {
    // it printed a token for each, which the server then refused with a bare 401
    const refused = async (args, why) => {
      const r = await env.cli(['token', ...args]);
      assert.equal(r.code, 1, `${why}: exit ${r.code}, stdout ${r.stdout}`);
      assert.equal(r.stdout, '', `${why}: no token`);
      assert.ok(r.stderr.length > 0, `${why}: a reason on stderr`);
    };
    await refused(['--client-id', app.clientId, '--client-secret', 'definitely-not-the-secret-0123456789'], 'wrong secret');
    await refused(['--client-id', app.clientId, '--client-secret', app.clientSecret.slice(0, -1)], 'secret cut short');
    await refused(['--client-id', 'cs-00000000-0000-4000-8000-000000000000', '--client-secret', app.clientSecret], 'unknown app');
    await refused(['--client-id', app.clientId, '--client-secret', app.clientSecret, '--alg', 'HS512'], 'not the app\'s algorithm');
    const gone = await env.createApp({ streams: app.streams });
    const rv = await env.cli(['app', 'revoke', gone.clientId]);
    assert.equal(rv.code, 0, rv.stderr);
    await refused(['--client-id', gone.clientId, '--client-secret', gone.clientSecret], 'revoked app');
    // an --enforce-jti app's tokens must expire within the hour: the server refuses any other
    const jti = await env.createApp({ streams: app.streams, enforceJti: true });
    await refused(['--client-id', jti.clientId, '--client-secret', jti.clientSecret, '--ttl', '7200'], 'jti app, --ttl 7200');
    await refused(['--client-id', jti.clientId, '--client-secret', jti.clientSecret, '--ttl', '0'], 'jti app, no exp');
    const ok = await env.cli(['token', '--client-id', jti.clientId, '--client-secret', jti.clientSecret, '--ttl', '600']);
    assert.equal(ok.code, 0, ok.stderr);
    assertOk(await server.client(jti).createCase(caseBody(cfg), { token: ok.stdout.trim() }), 'a jti app\'s token of 600 s');
  });

  it('casemgr token refuses a --ttl past ten years or not a number, and an empty --sub (exit 2, no token)', T, async () => {
    // --ttl 9223372036854775807 overflowed iat + ttl into an exp in the past: a token already
    // expired, printed with exit 0; --sub '' printed a token the server refuses
    const creds = ['--client-id', app.clientId, '--client-secret', app.clientSecret];
    for (const ttl of ['9223372036854775807', '99999999999999999999', '315360001', '-1', '', '12x']) {
      const r = await env.cli(['token', ...creds, '--ttl', ttl]);
      assert.equal(r.code, 2, `--ttl ${ttl}: exit ${r.code}, stdout ${r.stdout}`);
      assert.equal(r.stdout, '', `--ttl ${ttl}: no token`);
    }
    const sub = await env.cli(['token', ...creds, '--sub', '']);
    assert.equal(sub.code, 2, `--sub '': exit ${sub.code}, stdout ${sub.stdout}`);
    assert.equal(sub.stdout, '');
    const long = await env.cli(['token', ...creds, '--ttl', '315360000']);
    assert.equal(long.code, 0, long.stderr);
    const { payload } = decodeJwt(long.stdout.trim());
    assert.equal(payload.exp - payload.iat, 315360000);
    assertOk(await server.client(app).createCase(caseBody(cfg), { token: long.stdout.trim() }), 'a ten-year token');
  });

  it('--help on a subcommand prints the usage on stdout and exits 0; a bad option exits 2', T, async () => {
    for (const args of [['app', '--help'], ['token', '-h'], ['status', 'add', '--help'], ['--help'], ['-h'], ['serve', '-h']]) {
      const r = await env.cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^usage:/, args.join(' ')); // casemgr --help printed it on stderr
    }
    const bad = await env.cli(['app', 'list', '--frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage:/);
    // an option's value that looks like --help is the value
    const stream = app.streams[0];
    const named = await env.cliJson(['status', 'add', '--stream', stream, '--name', '-h', '--category', 'open']);
    assert.equal(named.name, '-h');
  });

  it('casemgr token creates nothing: a missing database or key file is an error; --offline signs without either', T, async () => {
    const missing = `${env.dir}/no-such.db`;
    const r = await runCli(['token', '--db', `sqlite:${missing}`, '--client-id', app.clientId, '--client-secret', app.clientSecret]);
    assert.equal(r.code, 1, r.stderr);
    await assert.rejects(stat(missing), 'no database file was created');
    const k = await env.cli(['token', '--key-file', `${env.dir}/no-such.key`, '--client-id', app.clientId, '--client-secret', app.clientSecret]);
    assert.equal(k.code, 1, k.stderr);
    await assert.rejects(stat(`${env.dir}/no-such.key`), 'no key file was created');
    const off = await runCli(['token', '--offline', '--db', `sqlite:${missing}`, '--client-id', app.clientId, '--client-secret', app.clientSecret, '--alg', 'HS384']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(decodeJwt(off.stdout.trim()).header.alg, 'HS384');
    await assert.rejects(stat(missing), 'still no database file');
    const plain = await runCli(['token', '--offline', '--client-id', app.clientId, '--client-secret', app.clientSecret, '--ttl', '60']);
    assert.equal(plain.code, 0, plain.stderr);
    assertOk(await server.client(app).createCase(caseBody(cfg), { token: plain.stdout.trim() }), 'an offline HS256 token of the right secret');
  });

  it('casemgr token signs with the algorithm the app was set up with', T, async () => {
    const hs512 = await env.createApp({ streams: app.streams, alg: 'HS512' });
    const r = await env.cli(['token', '--client-id', hs512.clientId, '--client-secret', hs512.clientSecret]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decodeJwt(r.stdout.trim()).header.alg, 'HS512');
    assertOk(await server.client(hs512).createCase(caseBody(cfg), { token: r.stdout.trim() }));
  });
});

describe('03 admin cli: stream configuration', () => {
  let env, stream;
  before(async () => {
    env = await Env.create();
    stream = ids.stream();
    await env.createApp({ streams: [stream] });
  }, H);
  after(async () => { await env?.dispose(); }, H);

  it('the first association seeds the default statuses', T, async () => {
    const cfg = await env.cliJson(['stream', 'show', '--stream', stream]);
    assert.deepEqual(cfg.statuses.map((s) => [s.name, s.statusCategory]), STATUSES);
    for (const s of cfg.statuses) {
      assert.match(s._id, ID_RE.short('sts'));
      assert.equal(s.lname, s.name.toLowerCase());
      assert.equal(s.type, 'system');
      assert.equal(typeof s.desc, 'string', `status ${s.name}: member desc missing (API.md §4)`);
      assert.equal(s.isEnabled, true);
      assert.equal(s.isActive, true);
    }
  });

  it('the first association seeds the default priorities', T, async () => {
    const cfg = await env.cliJson(['stream', 'show', '--stream', stream]);
    assert.deepEqual(cfg.priorities.map((p) => [p.name, p.score, p.color.toUpperCase()]), PRIORITIES);
    for (const p of cfg.priorities) {
      assert.match(p._id, ID_RE.short('pr'));
      assert.equal(p.lname, p.name.toLowerCase());
      assert.equal(p.type, 'system');
      assert.equal(typeof p.desc, 'string', `priority ${p.name}: member desc missing (API.md §4)`);
      assert.equal(p.isEnabled, true);
      assert.equal(p.isActive, true);
    }
  });

  it('one default case template and one default task template with the three system fields', T, async () => {
    const cfg = await env.cliJson(['stream', 'show', '--stream', stream]);
    assert.equal(cfg.caseTemplates.length, 1);
    assert.equal(cfg.taskTemplates.length, 1);
    assert.match(cfg.caseTemplates[0]._id, ID_RE.short('ctm'));
    assert.match(cfg.taskTemplates[0]._id, ID_RE.short('ttm'));
    for (const tmpl of [cfg.caseTemplates[0], cfg.taskTemplates[0]]) {
      assert.equal(typeof tmpl.name, 'string');
      assert.ok(Array.isArray(tmpl.fields));
      for (const [display, type] of SYSTEM_FIELDS) {
        const f = findField(tmpl.fields, display);
        assert.ok(f, `${tmpl._id}: field ${display} missing: ${JSON.stringify(tmpl.fields)}`);
        assert.match(f._id, ID_RE.short('fd'));
        // the vendor's samples: "dataType": "input" / "textarea" / "datetime", as metaData.type
        assert.deepEqual(fieldType(f), [type, type], `${display}: dataType and metaData.type ${type}`);
        assert.equal(f.type, 'system');
        for (const k of ['show', 'displayName', 'lname', 'desc', 'isEnabled', 'isActive', 'metaData', 'required', 'dataType']) {
          assert.ok(k in f, `${tmpl._id} field ${display}: member ${k} missing (API.md §4)`);
        }
        for (const k of ['type', 'displayName', 'name', 'description', 'placeholder', 'readOnly', 'tooltipText']) {
          assert.ok(k in f.metaData, `${display}: metaData.${k} missing`);
        }
      }
    }
  });

  it('stream show of a stream that has no configuration exits 1 (it printed made-up defaults)', T, async () => {
    const r = await env.cli(['stream', 'show', '--stream', ids.stream()]);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /has no configuration yet/);
  });

  it('associating the stream with another app does not seed it again', T, async () => {
    const before1 = await env.cliJson(['stream', 'show', '--stream', stream]);
    await env.createApp({ streams: [stream] });
    const after1 = await env.cliJson(['stream', 'show', '--stream', stream]);
    assert.deepEqual(after1, before1);
  });

  it('template add (case and task, with custom fields)', T, async () => {
    const t = await env.cliJson(['template', 'add', '--stream', stream, '--kind', 'case', '--id', 'ctm-custom-billing', '--name', 'Billing',
      '--field', 'Invoice Number:input:required', '--field', 'Amount:number', '--field', 'Notes:textarea', '--field', 'Refunded:checkbox', '--field', 'Paid On:datetime']);
    assert.equal(t._id, 'ctm-custom-billing');
    assert.equal(t.name, 'Billing');
    assert.ok(Array.isArray(t.fields));
    assert.equal(t.isActive, true);
    const inv = findField(t.fields, 'Invoice Number');
    assert.ok(inv, `custom field missing: ${JSON.stringify(t.fields)}`);
    assert.equal(inv.required, true);
    assert.deepEqual(fieldType(inv), ['input', 'input']);
    assert.deepEqual(fieldType(findField(t.fields, 'Notes')), ['textarea', 'textarea']);
    assert.ok(fieldType(findField(t.fields, 'Amount')).includes('number'));
    assert.equal(findField(t.fields, 'Amount').required, false);

    const task = await env.cliJson(['template', 'add', '--stream', stream, '--kind', 'task', '--name', 'Call back']);
    assert.match(task._id, ID_RE.short('ttm'));

    const cfg = await env.cliJson(['stream', 'show', '--stream', stream]);
    assert.ok(cfg.caseTemplates.some((x) => x._id === 'ctm-custom-billing'));
    assert.ok(cfg.taskTemplates.some((x) => x._id === task._id));
  });

  it('template add refuses an unknown field type or kind', T, async () => {
    assertCliError(await env.cli(['template', 'add', '--stream', stream, '--kind', 'case', '--name', 'X', '--field', 'Blob:blob']), 'field type blob');
    assertCliError(await env.cli(['template', 'add', '--stream', stream, '--kind', 'widget', '--name', 'X']), 'kind widget');
    // fields are set and filtered by name: two of one name, or a system field's, could not be
    for (const fields of [['note:input', 'note:number'], ['title:input'], ['dueDate:checkbox'], ['description:textarea']]) {
      assertCliError(await env.cli(['template', 'add', '--stream', stream, '--kind', 'case', '--name', 'Dup', ...fields.flatMap((f) => ['--field', f])]), `fields ${fields}`);
    }
    assertCliError(await env.cli(['template', 'add', '--stream', stream, '--kind', 'case', '--name', 'Junk', '--field', 'a:input:required:junk']), 'a fourth part');
  });

  it('status add and priority add', T, async () => {
    const s = await env.cliJson(['status', 'add', '--stream', stream, '--name', 'Escalated', '--category', 'inProgress']);
    assert.match(s._id, ID_RE.short('sts'));
    assert.equal(s.name, 'Escalated');
    assert.equal(s.statusCategory, 'inProgress');
    assert.equal(s.isActive, true);
    const si = await env.cliJson(['status', 'add', '--stream', stream, '--name', 'Archived', '--category', 'closed', '--inactive']);
    assert.equal(si.isActive, false);

    const p = await env.cliJson(['priority', 'add', '--stream', stream, '--name', 'Trivial', '--score', '1', '--color', '#123456']);
    assert.match(p._id, ID_RE.short('pr'));
    assert.equal(p.score, 1);
    assert.equal(p.color.toUpperCase(), '#123456');
    const pi = await env.cliJson(['priority', 'add', '--stream', stream, '--name', 'Legacy', '--score', '7', '--inactive']);
    assert.equal(pi.isActive, false);

    const cfg = await env.cliJson(['stream', 'show', '--stream', stream]);
    assert.ok(cfg.statuses.some((x) => x._id === s._id));
    assert.ok(cfg.priorities.some((x) => x._id === p._id));
  });

  it('status add / priority add refuse bad values', T, async () => {
    assertCliError(await env.cli(['status', 'add', '--stream', stream, '--name', 'Weird', '--category', 'bogus']), 'category bogus');
    assertCliError(await env.cli(['priority', 'add', '--stream', stream, '--name', 'Too high', '--score', '16']), 'score 16');
    assertCliError(await env.cli(['priority', 'add', '--stream', stream, '--name', 'Too low', '--score', '0']), 'score 0');
    assertCliError(await env.cli(['priority', 'add', '--stream', stream, '--name', 'Red', '--score', '3', '--color', 'red']), 'color red');
    assertCliError(await env.cli(['status', 'add', '--stream', stream, '--name', 'n'.repeat(201), '--category', 'open']), 'a 201-byte status name');
    // the cast to int wrapped 4294967301 to score 5
    assertCliError(await env.cli(['priority', 'add', '--stream', stream, '--name', 'Wrap', '--score', '4294967301']), 'score 2^32 + 5');
    // a name of spaces alone was taken; one that is not UTF-8 failed with an empty message
    for (const name of ['   ', ' Lead', 'Trail ', 'tab\there', 'ctl\x01']) {
      const r = await env.cli(['status', 'add', '--stream', stream, '--name', name, '--category', 'open']);
      assertCliError(r, `status name ${JSON.stringify(name)}`);
      assert.match(r.stderr, /casemgr: \S/, `a reason for ${JSON.stringify(name)}`);
    }
    // names match as API.md §4 says, by Unicode lower-casing: Über and über are one status
    assert.equal((await env.cliJson(['status', 'add', '--stream', stream, '--name', 'Über Uns', '--category', 'open'])).lname, 'über uns');
    const clash = await env.cli(['status', 'add', '--stream', stream, '--name', 'über_uns', '--category', 'open']);
    assertCliError(clash, 'über_uns after Über Uns');
    // the message named the new name alone, which no status had
    assert.match(clash.stderr, /über_uns matches the status "Über Uns", which exists already/);
    const priority = await env.cli(['priority', 'add', '--stream', stream, '--name', 'CRITICAL', '--score', '3']);
    assert.match(priority.stderr, /CRITICAL matches the priority "Critical"/);
    // a stream the API could never route to
    assertCliError(await env.cli(['status', 'add', '--stream', 'a b/../c', '--name', 'X', '--category', 'open']), 'stream a b/../c');
    // an extra argument is not ignored
    assertCliError(await env.cli(['status', 'add', 'extra', '--stream', stream, '--name', 'Extra', '--category', 'open']), 'status add extra');
  });

  it('an option the subcommand does not take, or takes once and was given twice, is refused by name; a bad value says why', T, async () => {
    // they were accepted and ignored: status add --stream a --stream b changed b alone, and
    // --score on status add, --stream on token or --ttl on app create went unseen; a bad
    // value printed the whole usage without naming it
    const other = ids.stream();
    const cases = [
      [['status', 'add', '--stream', stream, '--stream', other, '--name', 'Twice', '--category', 'open'], /status add takes one --stream, not 2/],
      [['status', 'add', '--stream', stream, '--name', 'Scored', '--category', 'open', '--score', '3'], /status add takes no --score/],
      [['priority', 'add', '--stream', stream, '--name', 'Cat', '--score', '3', '--category', 'open'], /priority add takes no --category/],
      [['priority', 'add', '--stream', stream, '--name', 'NoScore'], /priority add needs --score/],
      [['priority', 'add', '--stream', stream, '--name', 'Big', '--score', '99999999999'], /--score 99999999999: must be a whole number/],
      [['template', 'add', '--stream', stream, '--kind', 'bogus', '--name', 'T'], /--kind bogus: is case or task/],
      [['template', 'add', '--stream', stream, '--name', 'T'], /template add needs --kind/],
      [['status', 'add', '--name', 'NoStream', '--category', 'open'], /status add needs --stream/],
      [['stream', 'show', '--stream', stream, '--name', 'x'], /stream show takes no --name/],
      [['app', 'create', '--account', ids.account(), '--stream', other, '--ttl', '5'], /app create takes no --ttl/],
      [['app', 'create', '--account', ids.account(), '--account', ids.account(), '--stream', other], /app create takes one --account, not 2/],
      [['app', 'list', '--stream', stream], /app list takes no --stream/],
      [['token', '--client-id', 'x', '--client-secret', 'y', '--stream', stream], /token takes no --stream/],
      [['token', '--client-id', 'x', '--client-secret', 'y', '--alg', 'HS999', '--offline'], /--alg HS999: is HS256, HS384 or HS512/],
      [['token', '--client-id', 'x', '--client-secret', 'y', '--ttl', '-1'], /--ttl -1: must be whole seconds from 0/],
      [['token', '--client-secret', 'y'], /token needs --client-id and --client-secret/],
    ];
    for (const [args, why] of cases) {
      const r = await env.cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code} ${r.stdout}`);
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
      assert.match(r.stderr, why, args.join(' '));
      assert.doesNotMatch(r.stderr, /usage:/, `${args.join(' ')}: the reason, not the whole usage`);
    }
    const shown = await env.cliJson(['stream', 'show', '--stream', other]).catch(() => null);
    assert.ok(!shown || !JSON.stringify(shown).includes('Twice'), 'nothing was added to the other stream');
    // repeatable ones stay repeatable
    const two = await env.cliJson(['app', 'create', '--account', ids.account(), '--stream', other, '--stream', ids.stream(), '--scope', 'a', '--scope', 'b']);
    assert.equal(two.streams.length, 2);
  });

  it('concurrent configuration changes of one stream all land (PostgreSQL refused some: "the database failed")', T, async () => {
    const st = ids.stream();
    await env.createApp({ streams: [st] });
    const names = Array.from({ length: 12 }, (_, i) => `Par ${i}`);
    const runs = await Promise.all(names.map((name) => env.cli(['priority', 'add', '--stream', st, '--name', name, '--score', '3'])));
    runs.forEach((r, i) => assert.equal(r.code, 0, `${names[i]}: ${r.stderr}`));
    // a change retried and landed printed "casemgr error: postgres: ... changed concurrently"
    runs.forEach((r, i) => assert.doesNotMatch(r.stderr, /error/, `${names[i]} succeeded without an error line`));
    const cfg = await env.cliJson(['stream', 'show', '--stream', st]);
    for (const name of names) assert.ok(cfg.priorities.some((p) => p.name === name), `${name} stored`);
  });

  it('an Über status is found by ÜBER UNS in a record', T, async () => {
    const app = await env.createApp({ streams: [stream] });
    const server = await env.startServer();
    const cfg = await env.streamConfig(stream);
    const c = await server.client(app).createCase(caseBody(cfg, { status: { name: 'ÜBER UNS' } }));
    assertOk(c, 'createCase with the status by its upper-case name');
    assert.equal(c.json.status.name, 'Über Uns');
  });

  it('commands that read, or change what is there, do not make a database of a mistyped path', T, async () => {
    const missing = `${env.dir}/mistyped.db`;
    for (const args of [['app', 'list'], ['app', 'revoke', 'cs-x'], ['stream', 'show', '--stream', stream]]) {
      const r = await runCli([...args, '--db', `sqlite:${missing}`]);
      assertCliError(r, args.join(' '));
      assert.match(r.stderr, /no database at/);
      await assert.rejects(stat(missing), `${args.join(' ')} made no database`);
    }
    assertCliError(await env.cli(['app', 'list', 'extra']), 'app list extra');
  });

  it('a database in a directory that does not exist: the message names the file and the directory', T, async () => {
    // it said only "cannot open the database: unable to open database file"
    const dir = `${env.dir}/not-made-yet`;
    for (const args of [['app', 'create', '--account', ids.account(), '--stream', ids.stream()],
      ['serve', '--listen', '127.0.0.1:0']]) {
      const r = await runCli([...args, '--db', `sqlite:${dir}/x.db`, '--key-file', `${env.dir}/k.key`], { timeout: 10_000 });
      assert.equal(r.code, 1, `${args[0]}: exit ${r.code}`);
      assert.match(r.stderr, new RegExp(`${dir}/x\\.db: .*the directory ${dir} does not exist`), r.stderr);
      await assert.rejects(stat(dir), 'no directory was made');
    }
  });
});
