// OWASP API Security Top 10 (2023), API2: broken authentication. One row per forged or
// malformed credential; each is sent to a write (updateCase of a record that exists, with a
// change) and a read (getCases), and both must answer 401 unauthorized (API.md §2: "Missing,
// malformed, bad signature, wrong algorithm, expired → 401"), without echoing the token. The
// first row proves the same requests succeed with a genuine token; the last rows prove no
// forged request changed the record, and that no token or secret reached the server output.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { Env, ids, T, H } from './lib/env.mjs';
import { assertOk, assertError, apiBase } from './lib/client.mjs';
import { signJwt, tokenFor, claimsFor, nowSec, b64url } from './lib/jwt.mjs';
import { snapshot, assertUnchanged, rawPost, CASE } from './lib/update.mjs';
import { LeakWatch, signRs256, signRaw, attackerRsa, assertNoInternals } from './lib/hostile.mjs';

const YEAR = 365 * 86_400;

describe('40 OWASP API2: broken authentication (every forged or malformed token → 401)', () => {
  const leaks = new LeakWatch();
  let env, server, app, other, revoked, client, victim, victim2, before0;

  before(async () => {
    env = await Env.create();
    const account = ids.account();
    const stream = ids.stream();
    app = leaks.app(await env.createApp({ account, streams: [stream], org: ids.org() }));
    other = leaks.app(await env.createApp({ account: ids.account(), streams: [stream] }));
    revoked = leaks.app(await env.createApp({ account, streams: [stream] }));
    const cfg = await env.streamConfig(stream);
    server = await env.startServer();
    client = leaks.client(server.client(app));
    victim = await client.newCase(cfg, { name: 'authn target' });
    victim2 = await client.newCase(cfg, { name: 'authn target of the raw rows' });
    const rc = leaks.client(server.client(revoked));
    assertOk(await rc.post('getCases', {}), 'the soon revoked app works before');
    const rev = await env.cli(['app', 'revoke', revoked.clientId]);
    assert.equal(rev.code, 0, `app revoke: ${rev.stderr}`);
    before0 = await snapshot(client, CASE, victim._id);
  }, H);
  after(async () => { await env?.dispose(); }, H);

  const valid = (extra = {}) => tokenFor(app, extra);
  const secret = () => app.clientSecret;
  const withSig = (token, sig) => `${token.split('.').slice(0, 2).join('.')}.${sig}`;
  const sigOf = (token) => token.split('.')[2];

  /** A genuine token whose signature contains '-' or '_' (so base64 and base64url differ). */
  function validWithUrlChars() {
    for (let i = 0; i < 200; i++) {
      const t = valid({ sub: `u-${i}` });
      if (/[-_]/.test(sigOf(t))) return t;
    }
    throw new Error('no signature with - or _ in 200 tries');
  }

  // [name, () => token] — sent as the `auth` header (null: no header)
  const TOKENS = [
    // no or empty credentials
    ['no auth header', () => null],
    ['empty auth header', () => ''],
    ['garbage', () => 'not-a-jwt'],
    ['three empty-ish segments "a.b.c"', () => 'a.b.c'],
    ['four segments (a JWE-like token)', () => `${valid()}.${b64url('x')}`],
    ['five segments', () => `${valid()}.x.y`],
    // alg none and missing alg
    ['alg "none", empty signature', () => signJwt(claimsFor(app), secret(), { alg: 'none', signAlg: '' })],
    ['alg "None", empty signature', () => signJwt(claimsFor(app), secret(), { alg: 'None', signAlg: '' })],
    ['alg "NONE", empty signature', () => signJwt(claimsFor(app), secret(), { alg: 'NONE', signAlg: '' })],
    ['alg "nOnE" with a genuine HS256 signature', () => signJwt(claimsFor(app), secret(), { alg: 'nOnE', signAlg: 'HS256' })],
    ['alg "none", signature segment dropped ("h.p.")', () => signJwt(claimsFor(app), secret(), { alg: 'none', signAlg: '' })],
    ['alg "none", no trailing dot ("h.p")', () => signJwt(claimsFor(app), secret(), { alg: 'none', signAlg: '' }).replace(/\.$/, '')],
    ['header without alg, genuine HS256 signature', () => signRaw('{"typ":"JWT"}', JSON.stringify(claimsFor(app)), secret())],
    ['alg null, genuine HS256 signature', () => signRaw('{"alg":null,"typ":"JWT"}', JSON.stringify(claimsFor(app)), secret())],
    ['alg "" (empty), genuine HS256 signature', () => signRaw('{"alg":"","typ":"JWT"}', JSON.stringify(claimsFor(app)), secret())],
    ['alg ["HS256"] (an array), genuine HS256 signature', () => signRaw('{"alg":["HS256"],"typ":"JWT"}', JSON.stringify(claimsFor(app)), secret())],
    ['alg "hs256" (lower case), genuine HS256 signature', () => signJwt(claimsFor(app), secret(), { alg: 'hs256', signAlg: 'HS256' })],
    ['alg "HS256 " (trailing space), genuine HS256 signature', () => signJwt(claimsFor(app), secret(), { alg: 'HS256 ', signAlg: 'HS256' })],
    // algorithm confusion
    ['alg RS256, HMAC-SHA256 with the clientSecret as the key', () => signJwt(claimsFor(app), secret(), { alg: 'RS256', signAlg: 'HS256' })],
    ['alg ES256, HMAC-SHA256 with the clientSecret as the key', () => signJwt(claimsFor(app), secret(), { alg: 'ES256', signAlg: 'HS256' })],
    ['alg PS256, HMAC-SHA256 with the clientSecret as the key', () => signJwt(claimsFor(app), secret(), { alg: 'PS256', signAlg: 'HS256' })],
    ['alg RS256 signed with the attacker\'s RSA key, its public key embedded as "jwk"', () => {
      const jwk = attackerRsa().publicKey.export({ format: 'jwk' });
      return signRs256({ alg: 'RS256', typ: 'JWT', jwk }, claimsFor(app));
    }],
    ['alg RS256 signed with the attacker\'s RSA key, "jku"/"x5u" pointing at the attacker', () => signRs256({ alg: 'RS256', typ: 'JWT', jku: 'http://127.0.0.1:1/jwks.json', x5u: 'http://127.0.0.1:1/cert.pem' }, claimsFor(app))],
    ['HS256 with the attacker\'s RSA public key (PEM) as the HMAC key', () => signJwt(claimsFor(app), attackerRsa().publicKey.export({ format: 'pem', type: 'spki' }).toString())],
    ['HS256 with "kid" path traversal to /dev/null and an empty key', () => {
      const data = `${b64url({ alg: 'HS256', typ: 'JWT', kid: '../../../../../../dev/null' })}.${b64url(claimsFor(app))}`;
      return `${data}.${createHmac('sha256', Buffer.alloc(0)).update(data).digest('base64url')}`;
    }],
    ['HS256 with "kid" SQL injection and a key of "x"', () => signJwt(claimsFor(app), 'x', { header: { kid: "x' UNION SELECT 'x'--" } })],
    ['HS384 token for an HS256 app (genuine HS384 signature)', () => signJwt(claimsFor(app), secret(), { alg: 'HS384' })],
    ['HS512 token for an HS256 app (genuine HS512 signature)', () => signJwt(claimsFor(app), secret(), { alg: 'HS512' })],
    ['header says HS256, signed HS512', () => signJwt(claimsFor(app), secret(), { alg: 'HS256', signAlg: 'HS512' })],
    // wrong keys
    ['wrong key (random 32 bytes)', () => signJwt(claimsFor(app), randomBytes(32).toString('hex'))],
    ['empty key', () => { const data = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claimsFor(app))}`; return `${data}.${createHmac('sha256', Buffer.alloc(0)).update(data).digest('base64url')}`; }],
    ['key = the clientId', () => signJwt(claimsFor(app), app.clientId)],
    ['key = the clientSecret plus a newline', () => signJwt(claimsFor(app), `${secret()}\n`)],
    ['key = another app\'s clientSecret', () => signJwt(claimsFor(app), other.clientSecret)],
    // damaged signatures
    ['truncated signature (4 characters short)', () => valid().slice(0, -4)],
    ['signature of one byte less (a 31-byte MAC)', () => withSig(valid(), Buffer.from(sigOf(valid()), 'base64url').subarray(0, 31).toString('base64url'))],
    ['signature with its last character changed', () => { const t = valid(); const last = t.at(-1) === 'A' ? 'Q' : 'A'; return t.slice(0, -1) + last; }],
    ['signature with one bit flipped in its first byte', () => { const t = valid(); const b = Buffer.from(sigOf(t), 'base64url'); b[0] ^= 1; return withSig(t, b.toString('base64url')); }],
    ['signature padded with "="', () => `${valid()}=`],
    ['signature padded with "=="', () => `${valid()}==`],
    ['signature in the standard base64 alphabet (+ / instead of - _)', () => { const t = validWithUrlChars(); return withSig(t, sigOf(t).replace(/-/g, '+').replace(/_/g, '/')); }],
    ['signature with non-zero spare bits (a non-canonical encoding of the same MAC)', () => {
      const t = valid(); const s = sigOf(t); // 32 bytes → 43 chars, the last carries 2 spare bits
      const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const i = alpha.indexOf(s.at(-1));
      return withSig(t, s.slice(0, -1) + alpha[i | 1]);
    }],
    ['signature doubled (the MAC twice)', () => { const t = valid(); return withSig(t, Buffer.concat([Buffer.from(sigOf(t), 'base64url'), Buffer.from(sigOf(t), 'base64url')]).toString('base64url')); }],
    ['signature of another genuine token (different payload)', () => withSig(valid({ sub: 'u-mallory' }), sigOf(valid({ sub: 'u-alice', jti: 'other' })))],
    ['swapped payload: another genuine token\'s payload under this one\'s signature', () => { const a = valid({ sub: 'u-alice' }); const b = valid({ sub: 'u-admin', exp: nowSec() + 10 * YEAR }); const [h, , s] = a.split('.'); return `${h}.${b.split('.')[1]}.${s}`; }],
    ['payload of another app\'s genuine token under this app\'s header and signature', () => { const mine = valid(); const theirs = tokenFor(other); return `${mine.split('.')[0]}.${theirs.split('.')[1]}.${sigOf(mine)}`; }],
    // time claims
    ['expired an hour ago', () => valid({ iat: nowSec() - 7200, exp: nowSec() - 3600 })],
    ['expired just beyond the 60 s leeway', () => valid({ iat: nowSec() - 600, exp: nowSec() - 70 })],
    ['nbf an hour in the future', () => valid({ nbf: nowSec() + 3600 })],
    ['iat an hour in the future (exp after it)', () => valid({ iat: nowSec() + 3600, exp: nowSec() + 7200 })],
    ['iat ten years in the future and no exp (a token that would never age)', () => valid({ iat: nowSec() + 10 * YEAR, exp: undefined })],
    ['no exp and an iat two days old', () => valid({ iat: nowSec() - 2 * 86_400, exp: undefined })],
    ['no exp and no iat', () => valid({ iat: undefined, exp: undefined })],
    ['exp as a numeric string', () => valid({ exp: String(nowSec() + 600) })],
    ['exp null', () => valid({ exp: null })],
    ['nbf as a string', () => valid({ nbf: 'now' })],
    ['iat as a boolean and no exp', () => valid({ iat: true, exp: undefined })],
    // huge and non-JSON
    ['huge token (> 8 KiB) with a genuine signature', () => valid({ pad: 'p'.repeat(9000) })],
    ['huge garbage token (15 KiB, under the header limit)', () => 'A'.repeat(15 * 1024)],
    ['payload not JSON (genuine signature)', () => signRaw('{"alg":"HS256","typ":"JWT"}', 'not json', secret())],
    ['payload a JSON array (genuine signature)', () => signRaw('{"alg":"HS256","typ":"JWT"}', JSON.stringify([claimsFor(app)]), secret())],
    ['payload a JSON string (genuine signature)', () => signRaw('{"alg":"HS256","typ":"JWT"}', JSON.stringify(app.clientId), secret())],
    ['payload JSON null (genuine signature)', () => signRaw('{"alg":"HS256","typ":"JWT"}', 'null', secret())],
    ['payload with trailing garbage after the object (genuine signature)', () => signRaw('{"alg":"HS256","typ":"JWT"}', `${JSON.stringify(claimsFor(app))}x`, secret())],
    ['header not JSON (genuine signature)', () => signRaw('alg=HS256', JSON.stringify(claimsFor(app)), secret())],
    ['header and payload not base64url', () => `*&^%.$#@!.${sigOf(valid())}`],
    ['typ "JWE"', () => signJwt(claimsFor(app), secret(), { header: { typ: 'JWE' } })],
    ['crit header naming an extension', () => signJwt(claimsFor(app), secret(), { header: { crit: ['exp'], exp: 1 } })],
    // duplicate claims (parsers that keep the first and those that keep the last disagree)
    ['duplicate claim appId (same value twice)', () => { const c = claimsFor(app); return signRaw('{"alg":"HS256","typ":"JWT"}', `{"appId":"${c.appId}","appId":"${c.appId}","iat":${c.iat},"exp":${c.exp}}`, secret()); }],
    ['duplicate claim exp (expired, then far future)', () => { const c = claimsFor(app); return signRaw('{"alg":"HS256","typ":"JWT"}', `{"appId":"${c.appId}","iat":${c.iat},"exp":${nowSec() - 3600},"exp":${nowSec() + 10 * YEAR}}`, secret()); }],
    ['duplicate claim appId (another app\'s, then this one\'s)', () => { const c = claimsFor(app); return signRaw('{"alg":"HS256","typ":"JWT"}', `{"appId":"${other.clientId}","appId":"${c.appId}","iat":${c.iat},"exp":${c.exp}}`, secret()); }],
    ['duplicate header member alg (none, then HS256)', () => signRaw('{"alg":"none","alg":"HS256","typ":"JWT"}', JSON.stringify(claimsFor(app)), secret())],
    // appId tricks
    ['appId of another app, signed with this app\'s secret', () => valid({ appId: other.clientId })],
    ['appId missing', () => valid({ appId: undefined })],
    ['appId empty', () => valid({ appId: '' })],
    ['appId a number', () => valid({ appId: 12345 })],
    ['appId an array holding the clientId', () => valid({ appId: [app.clientId] })],
    ['appId with a trailing space', () => valid({ appId: `${app.clientId} ` })],
    ['appId in upper case', () => valid({ appId: app.clientId.toUpperCase() })],
    ['appId with a Cyrillic "с" for the Latin "c"', () => valid({ appId: app.clientId.replace(/^c/, '\u0441') })],
    ['appId with a NUL and junk after the clientId', () => valid({ appId: `${app.clientId}\u0000junk` })],
    ['appId with a zero-width space', () => valid({ appId: `${app.clientId}\u200b` })],
    ['sub empty', () => valid({ sub: '' })],
    ['revoked app\'s own genuine token', () => tokenFor(revoked)],
    // header value tricks
    ['"Bearer " prefix', () => `Bearer ${valid()}`],
    ['"bearer " prefix', () => `bearer ${valid()}`],
    ['token in double quotes', () => `"${valid()}"`],
    ['a space inside the token', () => valid().replace('.', '. ')],
  ];

  /** Sends the write and the read with `auth` = token (null: none); both must be 401. */
  async function refusedEverywhere(token, what) {
    if (token !== null) leaks.add(token, `forged token (${what})`);
    const w = await client.post(`updateCase/${victim._id}`, { desc: `forged: ${what}` }, { token });
    assertError(w, 401, 'unauthorized');
    const r = await client.post('getCases', { limit: 5 }, { token });
    assertError(r, 401, 'unauthorized');
    for (const x of [w, r]) {
      assertNoInternals(x, what);
      const sig = token?.split('.')[2] ?? '';
      if (token && token.length > 8) assert.ok(!x.text.includes(token) && (sig.length < 16 || !x.text.includes(sig)), `${what}: the 401 body echoes the token`);
      assert.equal(x.headers.get('etag'), null, `${what}: a 401 with an ETag`);
    }
  }

  it('control: a genuine token reaches both endpoints (so every 401 below is the token\'s doing)', T, async () => {
    assertOk(await client.post(`updateCase/${victim._id}`, {}, { token: valid() }), 'updateCase {}');
    assertOk(await client.post('getCases', { limit: 5 }, { token: valid() }), 'getCases');
  });

  for (const [name, make] of TOKENS) {
    it(`401: ${name}`, T, async () => {
      await refusedEverywhere(make(), name);
    });
  }

  // rows that need exact header bytes
  const path = () => `${apiBase(app.streams[0])}updateCase/${victim2._id}`;
  const body = JSON.stringify({ desc: 'forged: raw' });
  const base = () => [['Content-Type', 'application/json'], ['accountId', app.account]];
  const RAW = [
    ['Authorization: Bearer <genuine token> instead of auth', () => [...base(), ['Authorization', `Bearer ${leaks.add(valid())}`]]],
    ['two auth headers: a genuine token, then garbage', () => [...base(), ['auth', leaks.add(valid())], ['auth', 'garbage']]],
    ['two auth headers: garbage, then a genuine token', () => [...base(), ['auth', 'garbage'], ['auth', leaks.add(valid())]]],
    ['two auth headers: this app\'s genuine token, then another app\'s genuine token (which identity?)', () => [...base(), ['auth', leaks.add(valid())], ['auth', leaks.add(tokenFor(other))]]],
    ['a genuine token with a UTF-8 zero-width space appended', () => [...base(), ['auth', Buffer.from(`${leaks.add(valid())}\u200b`, 'utf8').toString('latin1')]]],
    ['a genuine token with a NUL-free Latin-1 byte appended (0xA0)', () => [...base(), ['auth', `${leaks.add(valid())}\u00a0`]]],
    ['a genuine token folded over two lines (obsolete line folding)', () => { const t = leaks.add(valid()); const [h, p, s] = t.split('.'); return [...base(), ['auth', `${h}.${p}.\r\n ${s}`]]; }],
  ];

  it('control: the raw path with one genuine auth header is served', T, async () => {
    const r = await rawPost(server, path(), [...base(), ['auth', leaks.add(valid())]], '{}');
    assertOk(r, 'raw control');
  });

  for (const [name, headers] of RAW) {
    it(`401: ${name}`, T, async () => {
      const r = await rawPost(server, path(), headers(), body);
      assertError(r, 401, 'unauthorized');
      assertNoInternals(r, name);
    });
  }

  it(`the matrix has at least 30 token rows (it has ${TOKENS.length + RAW.length})`, () => {
    assert.ok(TOKENS.length + RAW.length >= 30);
  });

  it('no forged token of the table changed the record', T, async () => {
    await assertUnchanged(client, CASE, before0, 'after every forged token');
  });

  it('the server is still up and the access log recorded each 401 with no clientId of the forger\'s choosing', T, async () => {
    assertOk(await client.post('getCases', { limit: 1 }), 'getCases after the matrix');
    const log = server.accessLog();
    const refused = log.filter((l) => l.status === 401);
    assert.ok(refused.length >= 2 * TOKENS.length - 4, `only ${refused.length} 401 lines in the access log`);
    for (const l of refused) {
      assert.ok(!l.clientId || l.clientId === '' || l.clientId === null || /^cs-[0-9a-f-]{36}$/.test(l.clientId), `a 401 logged with clientId ${JSON.stringify(l.clientId)}`);
    }
  });

  it('the server output (access log, stderr) carries no token, signature or clientSecret of this file', T, () => {
    const { secrets, lines } = leaks.assertClean([server]);
    assert.ok(secrets > 50 && lines > 100, `checked ${secrets} secrets over ${lines} lines`);
  });
});
