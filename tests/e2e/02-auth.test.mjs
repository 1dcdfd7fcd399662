// Authentication and authorisation (API.md §2): JWT rules, scope/stream/account
// checks and their order, --enforce-jti, and tenant isolation of records.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Env, ids, T, H } from './lib/env.mjs';
import { signJwt, tokenFor, claimsFor, nowSec, b64url, newJti } from './lib/jwt.mjs';
import { caseBody, taskBody, assertOk, assertError } from './lib/client.mjs';

const JTI_EXP_MSG = 'error verifying the jwt: if "jti" claim "exp" must be <= 1 hour(s)';
const JTI_REPLAY_MSG = 'error verifying the jwt: possibly a replay';

describe('02 auth', () => {
  const s1 = ids.stream();
  const s2 = ids.stream();
  const account = ids.account();
  let env, server, cfg, cfg2;
  let app; // HS256, caseManagement, s1, account
  let noScope; // scope "other" only, s1
  let otherStream; // s2 only, same account
  let hs384; // --alg HS384, s1
  let jtiApp; // --enforce-jti, s1
  let client;

  before(async () => {
    env = await Env.create();
    app = await env.createApp({ account, streams: [s1], org: ids.org() });
    noScope = await env.createApp({ account, streams: [s1], scopes: ['other'] });
    otherStream = await env.createApp({ account, streams: [s2] });
    hs384 = await env.createApp({ account, streams: [s1], alg: 'HS384' });
    jtiApp = await env.createApp({ account, streams: [s1], enforceJti: true });
    cfg = await env.streamConfig(s1);
    cfg2 = await env.streamConfig(s2);
    server = await env.startServer();
    client = server.client(app);
  }, H);
  after(async () => { await env?.dispose(); }, H);

  const create = (token, opts = {}) => client.createCase(caseBody(cfg), { token, ...opts });

  it('a valid HS256 token is accepted', T, async () => {
    assertOk(await create(tokenFor(app)));
  });

  describe('401 unauthorized', () => {
    const cases = [
      ['missing auth header', () => null],
      ['empty auth header', () => ''],
      ['garbage', () => 'not-a-jwt'],
      ['three garbage segments', () => 'a.b.c'],
      ['alg none with empty signature', () => signJwt(claimsFor(app), app.clientSecret, { alg: 'none', signAlg: '' })],
      ['alg "None" with empty signature', () => signJwt(claimsFor(app), app.clientSecret, { alg: 'None', signAlg: '' })],
      ['alg "NONE" with an HS256 signature', () => signJwt(claimsFor(app), app.clientSecret, { alg: 'NONE', signAlg: 'HS256' })],
      ['alg none, signature segment dropped', () => signJwt(claimsFor(app), app.clientSecret, { alg: 'none', signAlg: '' }).slice(0, -1)],
      ['HS384 token for an HS256 app', () => signJwt(claimsFor(app), app.clientSecret, { alg: 'HS384' })],
      ['HS512 token for an HS256 app', () => signJwt(claimsFor(app), app.clientSecret, { alg: 'HS512' })],
      ['header says HS256, signed HS384', () => signJwt(claimsFor(app), app.clientSecret, { alg: 'HS256', signAlg: 'HS384' })],
      ['RS256 header', () => signJwt(claimsFor(app), app.clientSecret, { alg: 'RS256', signAlg: 'HS256' })],
      ['tampered payload', () => {
        const [h, , s] = tokenFor(app, { sub: 'u-alice' }).split('.');
        return `${h}.${b64url(claimsFor(app, { sub: 'u-mallory' }))}.${s}`;
      }],
      ['wrong secret', () => signJwt(claimsFor(app), `${app.clientSecret}x`)],
      ['another app\'s secret', () => signJwt(claimsFor(app), noScope.clientSecret)],
      ['truncated signature', () => tokenFor(app).slice(0, -4)],
      ['expired beyond the 60 s leeway', () => tokenFor(app, { iat: nowSec() - 600, exp: nowSec() - 120 })],
      ['nbf in the future beyond the leeway', () => tokenFor(app, { nbf: nowSec() + 300 })],
      ['no exp and iat older than the max token age', () => tokenFor(app, { exp: undefined, iat: nowSec() - 4000 })],
      ['no exp and no iat', () => tokenFor(app, { exp: undefined, iat: undefined })],
      ['exp not a number', () => tokenFor(app, { exp: 'tomorrow' })],
      ['no appId', () => tokenFor(app, { appId: undefined })],
      ['unknown appId', () => signJwt(claimsFor(app, { appId: `cs-${crypto.randomUUID()}` }), app.clientSecret)],
      ['payload not JSON', () => {
        const data = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url('not json')}`;
        return `${data}.${createHmac('sha256', app.clientSecret).update(data).digest('base64url')}`;
      }],
    ];
    for (const [name, make] of cases) {
      it(name, T, async () => {
        const r = await create(make());
        assertError(r, 401, 'unauthorized');
      });
    }
  });

  it('expired within the 60 s leeway is accepted', T, async () => {
    assertOk(await create(tokenFor(app, { iat: nowSec() - 600, exp: nowSec() - 30 })));
  });

  it('nbf within the 60 s leeway is accepted; nbf in the past is accepted', T, async () => {
    assertOk(await create(tokenFor(app, { nbf: nowSec() + 20 })), 'nbf now+20');
    assertOk(await create(tokenFor(app, { nbf: nowSec() - 100 })), 'nbf now-100');
  });

  it('no exp and a recent iat is accepted', T, async () => {
    assertOk(await create(tokenFor(app, { exp: undefined, iat: nowSec() - 100 })));
  });

  it('an app set up for HS384 accepts HS384 and refuses HS256', T, async () => {
    const c = server.client(hs384);
    assertOk(await c.createCase(caseBody(cfg), { token: signJwt(claimsFor(hs384), hs384.clientSecret, { alg: 'HS384' }) }), 'HS384');
    assertError(await c.createCase(caseBody(cfg), { token: signJwt(claimsFor(hs384), hs384.clientSecret, { alg: 'HS256' }) }), 401, 'unauthorized');
  });

  it('a revoked app gets 401 (revoked while the server runs)', T, async () => {
    const victim = await env.createApp({ account, streams: [s1] });
    const c = server.client(victim);
    assertOk(await c.createCase(caseBody(cfg)), 'before revoke');
    const rev = await env.cli(['app', 'revoke', victim.clientId]);
    assert.equal(rev.code, 0, `app revoke failed: ${rev.stderr}`);
    assertError(await c.createCase(caseBody(cfg)), 401, 'unauthorized');
  });

  describe('403, checked in order scope → stream → account', () => {
    it('app without caseManagement scope → 403 missing_scope', T, async () => {
      assertError(await server.client(noScope).createCase(caseBody(cfg)), 403, 'missing_scope');
    });

    it('stream not associated with the app → 403 stream_not_allowed', T, async () => {
      assertError(await server.client(otherStream, s1).createCase(caseBody(cfg)), 403, 'stream_not_allowed');
    });

    it('accountId header of another account → 403 account_mismatch', T, async () => {
      assertError(await client.createCase(caseBody(cfg), { accountId: ids.account() }), 403, 'account_mismatch');
      assertError(await client.createTask({}, { accountId: ids.account() }), 403, 'account_mismatch');
    });

    it('scope is checked before stream and account', T, async () => {
      const r = await server.client(noScope, s2).createCase(caseBody(cfg2), { accountId: ids.account() });
      assertError(r, 403, 'missing_scope');
    });

    it('stream is checked before account', T, async () => {
      const r = await server.client(otherStream, s1).createCase(caseBody(cfg), { accountId: ids.account() });
      assertError(r, 403, 'stream_not_allowed');
    });

    it('authentication (401) comes before authorisation (403)', T, async () => {
      const r = await server.client(noScope, s2).createCase(caseBody(cfg2), { token: tokenFor(noScope, { exp: nowSec() - 3600, iat: nowSec() - 7200 }) });
      assertError(r, 401, 'unauthorized');
    });
  });

  it('accountId is optional on createCase and createTask', T, async () => {
    const r = await client.createCase(caseBody(cfg), { accountId: null });
    assertOk(r, 'createCase without accountId');
    assert.equal(r.json.accountId, account);
    const t = await client.createTask(taskBody(cfg, r.json), { accountId: null });
    assertOk(t, 'createTask without accountId');
    assert.equal(t.json.accountId, account);
  });

  it('a plain app does not police jti: the same token twice is fine', T, async () => {
    const tok = tokenFor(app, { jti: newJti() });
    assertOk(await create(tok), 'first');
    assertOk(await create(tok), 'second');
  });

  describe('--enforce-jti app', () => {
    const jc = () => server.client(jtiApp);

    it('a token with jti and exp ≤ iat + 1 h is accepted', T, async () => {
      assertOk(await jc().createCase(caseBody(cfg), { token: tokenFor(jtiApp, { jti: newJti(), exp: nowSec() + 3600 }) }));
    });

    it('a token without jti → 401', T, async () => {
      assertError(await jc().createCase(caseBody(cfg), { token: tokenFor(jtiApp) }), 401, 'unauthorized');
    });

    it('exp more than one hour after iat → 401 with the vendor message', T, async () => {
      const iat = nowSec();
      const r = await jc().createCase(caseBody(cfg), { token: tokenFor(jtiApp, { jti: newJti(), iat, exp: iat + 7200 }) });
      const e = assertError(r, 401, 'unauthorized');
      assert.equal(e.msg, JTI_EXP_MSG);
    });

    it('a replayed jti → second use is 401 with the vendor message', T, async () => {
      const tok = tokenFor(jtiApp, { jti: newJti() });
      assertOk(await jc().createCase(caseBody(cfg), { token: tok }), 'first use');
      const e = assertError(await jc().createCase(caseBody(cfg), { token: tok }), 401, 'unauthorized');
      assert.equal(e.msg, JTI_REPLAY_MSG);
    });

    it('a replayed jti in a freshly signed token is refused too', T, async () => {
      const jti = newJti();
      assertOk(await jc().createCase(caseBody(cfg), { token: tokenFor(jtiApp, { jti }) }), 'first use');
      const e = assertError(await jc().createCase(caseBody(cfg), { token: tokenFor(jtiApp, { jti, sub: 'u-other' }) }), 401, 'unauthorized');
      assert.equal(e.msg, JTI_REPLAY_MSG);
    });

    it('a replayed jti is refused after a server restart (the set lives in the database)', T, async () => {
      const tok = tokenFor(jtiApp, { jti: newJti() });
      assertOk(await jc().createCase(caseBody(cfg), { token: tok }), 'first use');
      const stopped = await server.stop('SIGTERM');
      assert.equal(stopped.code, 0, `exit on SIGTERM: ${JSON.stringify(stopped)}`);
      server = await env.startServer();
      client = server.client(app);
      const e = assertError(await jc().createCase(caseBody(cfg), { token: tok }), 401, 'unauthorized');
      assert.equal(e.msg, JTI_REPLAY_MSG);
    });
  });
});

describe('02 auth: --max-token-age', () => {
  let env, server, app, cfg;
  before(async () => {
    env = await Env.create();
    app = await env.createApp();
    cfg = await env.streamConfig(app.streams[0]);
    server = await env.startServer(['--max-token-age', '60']);
  }, H);
  after(async () => { await env?.dispose(); }, H);

  it('a token without exp older than --max-token-age is refused', T, async () => {
    const c = server.client(app);
    assertOk(await c.createCase(caseBody(cfg), { token: tokenFor(app, { exp: undefined, iat: nowSec() - 10 }) }), 'iat now-10');
    assertError(await c.createCase(caseBody(cfg), { token: tokenFor(app, { exp: undefined, iat: nowSec() - 300 }) }), 401, 'unauthorized');
  });
});

describe('02 auth: records of another tenant are answered as missing (404)', () => {
  const shared = ids.stream();
  const other = ids.stream();
  let env, server, cfg, cfgOther, a, b, both;

  before(async () => {
    env = await Env.create();
    a = await env.createApp({ account: ids.account(), streams: [shared] });
    b = await env.createApp({ account: ids.account(), streams: [shared] });
    both = await env.createApp({ account: a.account, streams: [shared, other] });
    cfg = await env.streamConfig(shared);
    cfgOther = await env.streamConfig(other);
    server = await env.startServer();
  }, H);
  after(async () => { await env?.dispose(); }, H);

  function sameAsMissing(got, missing) {
    assertError(got, 404, 'not_found');
    assert.equal(got.status, missing.status);
    assert.equal(got.json.errors[0].reason, missing.json.errors[0].reason);
    assert.equal(got.json.errors[0].field, missing.json.errors[0].field);
  }

  it('another account\'s case (same stream) as createTask caseId → 404 like a missing one', T, async () => {
    const theirs = await server.client(b).newCase(cfg);
    const ca = server.client(a);
    const missing = await ca.createTask(taskBody(cfg, { _id: 'ci-0000000-0000-4000-8000-000000000000', refId: theirs.refId }));
    assertError(missing, 404, 'not_found');
    const got = await ca.createTask(taskBody(cfg, theirs));
    sameAsMissing(got, missing);
  });

  it('a case of another stream (same account) as createTask caseId → 404', T, async () => {
    const cb = server.client(both, other);
    const inOther = await cb.newCase(cfgOther);
    const ca = server.client(both, shared);
    const missing = await ca.createTask(taskBody(cfg, { _id: 'ci-0000000-0000-4000-8000-000000000000', refId: inOther.refId }));
    const got = await ca.createTask(taskBody(cfg, inOther));
    sameAsMissing(got, missing);
  });

  it('the owner can still use it', T, async () => {
    const cb = server.client(b);
    const mine = await cb.newCase(cfg);
    assertOk(await cb.createTask(taskBody(cfg, mine)));
  });
});
