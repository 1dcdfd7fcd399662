// Transport (API.md §1, §7 limits, §10): methods, media types, headers,
// framing, size limits, slow and idle clients, connection limit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { useServer, T, sleep, pool } from './lib/env.mjs';
import {
  request, caseBody, assertOk, assertError, apiBase, JSON_CT,
  RawConn, rawRequest, buildRequest, asFetchLike,
} from './lib/client.mjs';

const REQ_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;

/** Raw request headers for an authorised createCase of ctx's app. */
function rawHeaders(ctx, extra = []) {
  return [
    ['Host', `127.0.0.1:${ctx.server.port}`],
    ['Content-Type', 'application/json'],
    ['auth', ctx.client.token()],
    ...extra,
  ];
}

function padTo(obj, size) {
  const s = JSON.stringify(obj);
  assert.ok(s.length <= size, 'base body larger than target');
  return s.slice(0, -1) + ' '.repeat(size - s.length) + '}';
}

describe('01 http: methods, media types, headers (default settings)', () => {
  const ctx = useServer();

  it('non-POST methods on API paths answer 405 with Allow: POST', T, async () => {
    for (const endpoint of ['createCase', 'createTask']) {
      for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
        const hasBody = method !== 'GET';
        const r = await ctx.client.post(endpoint, hasBody ? caseBody(ctx.cfg) : undefined, { method });
        assertError(r, 405, 'method_not_allowed');
        assert.match(r.headers.get('allow') ?? '', /^\s*POST\s*$/i, `${method} ${endpoint}: Allow header`);
      }
    }
  });

  it('HEAD on /healthz, /readyz and /metrics answers as GET without a body; other methods 405 with Allow: GET, HEAD', T, async () => {
    // HEAD was 405: a load balancer or monitor probing with HEAD saw the server down
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const get = await request(`${ctx.server.base}${path}`, { method: 'GET' });
      const head = await request(`${ctx.server.base}${path}`, { method: 'HEAD' });
      assert.equal(head.status, 200, `HEAD ${path}`);
      assert.equal(head.text, '', `HEAD ${path}: no body`);
      assert.equal(head.headers.get('content-type'), get.headers.get('content-type'), `HEAD ${path}: the GET's type`);
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const r = await request(`${ctx.server.base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'DELETE' ? undefined : {} });
        assertError(r, 405, 'method_not_allowed');
        assert.equal(r.headers.get('allow'), 'GET, HEAD', `${method} ${path}`);
      }
    }
  });

  it('a non-JSON Content-Type answers 415', T, async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'application/jsonx']) {
      const r = await ctx.client.createCase(caseBody(ctx.cfg), { headers: { 'content-type': ct } });
      assertError(r, 415, 'unsupported_media_type');
    }
  });

  it('a missing Content-Type answers 415', T, async () => {
    const bytes = buildRequest({
      path: `${apiBase(ctx.app.streams[0])}createCase`,
      headers: [['Host', 'x'], ['auth', ctx.client.token()]],
      body: JSON.stringify(caseBody(ctx.cfg)),
    });
    const r = await rawRequest(ctx.server.port, bytes);
    r.conn.destroy();
    assertError(asFetchLike(r), 415, 'unsupported_media_type');
  });

  // RFC 9110 §8.4: the server decodes no content coding, so a coded body is refused. It was
  // applied as sent: plain JSON labelled gzip was created, real gzip answered 400 invalid_json.
  it('a body with a Content-Encoding other than identity answers 415 with Accept-Encoding: identity', T, async () => {
    const stream = ctx.app.streams[0];
    const json = JSON.stringify(caseBody(ctx.cfg, { name: 'Encoded body' }));
    const send = async (coding, body, endpoint = 'createCase') => {
      const raw = await rawRequest(ctx.server.port, buildRequest({
        path: `${apiBase(stream)}${endpoint}`,
        headers: rawHeaders(ctx, [['accountId', ctx.app.account], ...(coding === null ? [] : [['Content-Encoding', coding]])]),
        body,
      }));
      raw.conn.destroy();
      return raw;
    };
    for (const [coding, body] of [['gzip', json], ['gzip', gzipSync(json)], ['GZIP', json], ['br', json], ['identity, gzip', json]]) {
      const r = await send(coding, body);
      assertError(asFetchLike(r), 415, 'unsupported_media_type', 'Content-Encoding');
      assert.equal(r.headers['accept-encoding'], 'identity', `Content-Encoding ${coding}`);
    }
    assertError(asFetchLike(await send('deflate', '{}', 'getCases')), 415, 'unsupported_media_type', 'Content-Encoding');
    for (const coding of ['identity', 'Identity', '']) assertOk(asFetchLike(await send(coding, json)), `Content-Encoding ${JSON.stringify(coding)}`);
    const list = await ctx.client.post('getCases', { name: 'Encoded body' });
    assertOk(list);
    assert.equal(list.json.totalResults, 3, 'only the identity bodies were created');
    // the GET routes read no body: a coded one there is no reason for a 415 (openapi has none)
    const health = await rawRequest(ctx.server.port, buildRequest({
      method: 'GET', path: '/healthz', headers: [['Host', 'x'], ['Content-Encoding', 'gzip']], body: '{}',
    }));
    health.conn.destroy();
    assert.equal(health.status, 200, `GET /healthz with a coded body: ${health.status}`);
  });

  it('JSON Content-Type with parameters, in any case, is accepted', T, async () => {
    for (const ct of ['application/json;charset=UTF-8', 'Application/JSON; Charset=utf-8', 'APPLICATION/JSON']) {
      const r = await ctx.client.createCase(caseBody(ctx.cfg), { headers: { 'content-type': ct } });
      assertOk(r, `Content-Type ${ct}`);
    }
  });

  it('a UTF-8 byte order mark before the body is ignored (RFC 8259 §8.1)', T, async () => {
    // raw: the contract leg's proxy refuses such a body itself
    const send = async (endpoint, body) => {
      const r = await rawRequest(ctx.server.port, buildRequest({
        path: `${apiBase(ctx.app.streams[0])}${endpoint}`,
        headers: rawHeaders(ctx, [['accountId', ctx.app.account]]), body: Buffer.from(body, 'utf8'),
      }));
      r.conn.destroy();
      return asFetchLike(r);
    };
    const r = await send('createCase', `\ufeff${JSON.stringify(caseBody(ctx.cfg, { name: 'After a BOM' }))}`);
    assertOk(r, 'createCase with a BOM');
    assert.equal(r.json.name, 'After a BOM');
    assertOk(await send('getCases', '\ufeff{"limit": 1}'), 'getCases with a BOM');
    assertOk(await send('getCases', '\ufeff'), 'getCases with a BOM alone: an empty body, {}');
    assertError(await send('createCase', '\ufeff'), 400, 'invalid_json');
    assertError(await send('getCases', '{"limit": 1}\ufeff'), 400, 'invalid_json');
  });

  it('responses are application/json; charset=utf-8 and documents carry an ETag', T, async () => {
    const r = await ctx.client.createCase(caseBody(ctx.cfg));
    assertOk(r);
    assert.match(r.headers.get('content-type') ?? '', JSON_CT);
    assert.ok((r.headers.get('etag') ?? '').length > 0, 'ETag header missing on a document response');
  });

  it('X-Request-Id: a sane client id is echoed, otherwise one is generated', T, async () => {
    const mine = 'e2e-Req.42_x';
    let r = await ctx.client.createCase(caseBody(ctx.cfg), { headers: { 'x-request-id': mine } });
    assertOk(r);
    assert.equal(r.headers.get('x-request-id'), mine);

    // also on errors
    r = await ctx.client.createCase({}, { headers: { 'x-request-id': mine }, token: null });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('x-request-id'), mine);

    const seen = new Set();
    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', undefined]) {
      const headers = bad === undefined ? {} : { 'x-request-id': bad };
      r = await ctx.client.createCase(caseBody(ctx.cfg), { headers });
      assertOk(r);
      const got = r.headers.get('x-request-id');
      assert.ok(got && REQ_ID_RE.test(got), `generated X-Request-Id ${JSON.stringify(got)} for ${JSON.stringify(bad)}`);
      assert.notEqual(got, bad);
      seen.add(got);
    }
    assert.equal(seen.size, 4, 'generated request ids must differ');

    r = await request(`${ctx.server.base}/healthz`, { method: 'GET' });
    assert.ok(r.headers.get('x-request-id'), 'X-Request-Id on /healthz');
  });

  it('unknown endpoints and malformed path segments answer 404', T, async () => {
    let r = await ctx.client.post('deleteEverything', {});
    assertError(r, 404, 'not_found');
    r = await request(`${ctx.server.base}/caseManagement/api/public/analytics/st-a%20b/createCase`, {
      headers: { 'content-type': 'application/json', auth: ctx.client.token() },
      body: caseBody(ctx.cfg),
    });
    assertError(r, 404, 'not_found');
    r = await request(`${ctx.server.base}/nothing/here`, { headers: { 'content-type': 'application/json' }, body: {} });
    assert.equal(r.status, 404);
    // near misses say what to fix (each said only "no such endpoint")
    for (const [ep, hint] of [['getCases/', 'drop the trailing /'], ['updateTask', 'updateTask takes an id'],
      ['getcases', 'endpoint names are case-sensitive: getCases']]) {
      r = await ctx.client.post(ep, {});
      assertError(r, 404, 'not_found');
      assert.match(r.json.errors[0].msg, new RegExp(hint), ep);
    }
  });

  it('header values: whitespace after the value is not part of it; two accountId headers → 400', T, async () => {
    // `accountId: <acc> ` was refused as another account, `auth: <jwt> ` as a bad token
    const path = `${apiBase(ctx.app.streams[0])}getCases`;
    const send = async (headers) => {
      const r = await rawRequest(ctx.server.port, buildRequest({ path, headers, body: '{}' }));
      r.conn.destroy();
      return r;
    };
    const host = ['Host', `127.0.0.1:${ctx.server.port}`], ct = ['Content-Type', 'application/json'];
    for (const ws of [' ', '\t', ' \t ']) {
      const r = await send([host, ct, ['auth', ctx.client.token() + ws], ['accountId', ctx.app.account + ws],
        ['X-Request-Id', `req-trailing-ws${ws}`]]);
      assert.equal(r.status, 200, `trailing ${JSON.stringify(ws)}: ${r.statusLine} ${r.text.slice(0, 300)}`);
      assert.equal(r.headers['x-request-id'], 'req-trailing-ws', 'the client\'s request id, kept');
    }
    const other = 'a'.repeat(24);
    for (const pair of [[ctx.app.account, other], [other, ctx.app.account], [ctx.app.account, ctx.app.account]]) {
      const r = await send([host, ct, ['auth', ctx.client.token()], ...pair.map((a) => ['accountId', a])]);
      assert.equal(r.status, 400, `accountId ${pair}: ${r.statusLine} ${r.text.slice(0, 300)}`);
      assert.equal(JSON.parse(r.text.slice(r.text.indexOf('{'))).errors[0].field, 'accountId');
    }
  });

  it('an encoded NUL (%00) in the path is a character of the segment, not its end: 404', T, async () => {
    // decoded, it ended the path there: updateTask/<id>%00junk changed that task
    const theCase = await ctx.client.newCase(ctx.cfg);
    const headers = { 'content-type': 'application/json', auth: ctx.client.token(), accountId: ctx.app.account };
    const base = `${ctx.server.base}${apiBase(ctx.app.streams[0])}`;
    for (const tail of ['%00', '%00junk']) {
      assertError(await request(`${base}updateCase/${theCase._id}${tail}`, { headers, body: { desc: 'via a NUL' } }), 404, 'not_found');
      assertError(await request(`${base}getCases${tail}`, { headers, body: {} }), 404, 'not_found');
    }
    const now = await ctx.client.post(`updateCase/${theCase._id}`, {});
    assertOk(now);
    assert.equal(now.json.desc, theCase.desc, 'the case was not changed');
    // other escapes still decode (%43 is 'C'); sent raw, as the contract knows no escaped path
    const raw = await rawRequest(ctx.server.port, buildRequest({
      path: `${apiBase(ctx.app.streams[0])}get%43ases`,
      headers: rawHeaders(ctx, [['accountId', ctx.app.account]]), body: '{}',
    }));
    raw.conn.destroy();
    assert.equal(raw.status, 200, `${raw.statusLine} ${raw.text.slice(0, 300)}`);
  });

  it('an encoded slash (%2F, %2f) in the path is a character of the segment, not a separator: 404', T, async () => {
    // decoded before routing, /caseManagement%2Fapi%2F...%2FupdateTask%2F<id> changed that task
    const theCase = await ctx.client.newCase(ctx.cfg);
    const stream = ctx.app.streams[0];
    const paths = [
      `/caseManagement%2Fapi%2Fpublic%2Fanalytics%2F${stream}%2FupdateCase%2F${theCase._id}`,
      `${apiBase(stream)}updateCase%2f${theCase._id}`,
      `${apiBase(stream)}updateCase/x%2F..%2F${theCase._id}`,
    ];
    for (const path of paths) {
      const raw = await rawRequest(ctx.server.port, buildRequest({
        path, headers: rawHeaders(ctx, [['accountId', ctx.app.account]]), body: JSON.stringify({ desc: 'via a slash' }),
      }));
      raw.conn.destroy();
      assertError(asFetchLike(raw), 404, 'not_found');
    }
    const now = await ctx.client.post(`updateCase/${theCase._id}`, {});
    assertOk(now);
    assert.equal(now.json.desc, theCase.desc, 'the case was not changed');
  });

  it('an absolute-form request target (http or https, any case) is routed on its path (RFC 9112 §3.2.2)', T, async () => {
    // it answered 404: the whole target was taken as the path
    const stream = ctx.app.streams[0];
    const port = ctx.server.port;
    const send = async (method, path, extra, body) => {
      const raw = await rawRequest(port, buildRequest({ method, path, headers: extra, body }));
      raw.conn.destroy();
      return raw;
    };
    const api = await send('POST', `http://127.0.0.1:${port}${apiBase(stream)}getTasks`, rawHeaders(ctx, [['accountId', ctx.app.account]]), '{}');
    assert.equal(api.status, 200, `${api.statusLine} ${api.text.slice(0, 300)}`);
    assert.equal(typeof api.json.totalResults, 'number', api.text.slice(0, 200));
    for (const target of ['http://host/healthz', 'HTTP://host:80/healthz', 'Https://host/healthz']) {
      const r = await send('GET', target, [['Host', 'host']]);
      assert.equal(r.status, 200, `GET ${target}: ${r.statusLine} ${r.text.slice(0, 200)}`);
    }
    for (const target of ['http://host', 'ftp://host/healthz', `http://host${apiBase(stream)}nothing`]) {
      const r = await send('GET', target, [['Host', 'host']]);
      assert.equal(r.status, 404, `GET ${target}: ${r.statusLine} ${r.text.slice(0, 200)}`);
    }
  });

  it("the vendor's browser headers are ignored (exact sample casing)", T, async () => {
    const stream = ctx.app.streams[0];
    const bytes = buildRequest({
      path: `${apiBase(stream)}createCase`,
      headers: [
        ['Host', `127.0.0.1:${ctx.server.port}`],
        ['sec-ch-ua', '"Google Chrome";v="123", "Not:A-Brand";v="8", "Chromium";v="123"'],
        ['AccountId', ctx.app.account],
        ['client-app', 'unified'],
        ['X-Timezone-Offset', '-330'],
        ['sec-ch-ua-mobile', '?0'],
        ['auth', ctx.client.token()],
        ['state', 'configured'],
        ['Iid', stream],
        ['Content-Type', 'application/json;charset=UTF-8'],
        ['Accept', 'application/json, text/plain, */*'],
        ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36'],
        ['bot-language', 'en'],
        ['app-language', 'en'],
        ['Referer', 'http://localhost/builder/app/welcomeflows'],
        ['sec-ch-ua-platform', '"Linux"'],
      ],
      body: JSON.stringify(caseBody(ctx.cfg)),
    });
    const r = await rawRequest(ctx.server.port, bytes);
    r.conn.destroy();
    assertOk(asFetchLike(r), 'vendor-style request');
  });

  it('header names are case-insensitive (AccountId, accountid, ACCOUNTID, Auth)', T, async () => {
    const path = `${apiBase(ctx.app.streams[0])}createCase`;
    for (const name of ['AccountId', 'accountid', 'ACCOUNTID', 'accountId']) {
      const ok = await rawRequest(ctx.server.port, buildRequest({ path, headers: rawHeaders(ctx, [[name, ctx.app.account]]), body: JSON.stringify(caseBody(ctx.cfg)) }));
      ok.conn.destroy();
      assertOk(asFetchLike(ok), `${name}: right account`);
      const bad = await rawRequest(ctx.server.port, buildRequest({ path, headers: rawHeaders(ctx, [[name, 'not-my-account']]), body: JSON.stringify(caseBody(ctx.cfg)) }));
      bad.conn.destroy();
      assertError(asFetchLike(bad), 403, 'account_mismatch');
    }
    const headers = [['Host', 'x'], ['CONTENT-TYPE', 'application/json'], ['Auth', ctx.client.token()]];
    const r = await rawRequest(ctx.server.port, buildRequest({ path, headers, body: JSON.stringify(caseBody(ctx.cfg)) }));
    r.conn.destroy();
    assertOk(asFetchLike(r), 'Auth / CONTENT-TYPE');
  });

  it('keep-alive: several requests on one connection', T, async () => {
    const conn = await RawConn.open(ctx.server.port);
    try {
      const path = `${apiBase(ctx.app.streams[0])}createCase`;
      const ids = new Set();
      for (let i = 0; i < 3; i++) {
        await conn.write(buildRequest({ path, headers: rawHeaders(ctx), body: JSON.stringify(caseBody(ctx.cfg)) }));
        const r = await conn.readResponse();
        assertOk(asFetchLike(r), `request ${i} on a kept-alive connection`);
        ids.add(r.json._id);
      }
      assert.equal(ids.size, 3);
      assert.equal(conn.closed, false, 'server closed a keep-alive connection');
    } finally {
      conn.destroy();
    }
  });

  it('default body limit (1 MiB) is decided from Content-Length before the body is sent', T, async () => {
    const conn = await RawConn.open(ctx.server.port);
    try {
      const head = buildRequest({
        path: `${apiBase(ctx.app.streams[0])}createCase`,
        headers: rawHeaders(ctx, [['Content-Length', String(1048577)]]),
      });
      await conn.write(head);
      const r = await conn.readResponse(3000);
      assertError(asFetchLike(r), 413, 'body_too_large');
    } finally {
      conn.destroy();
    }
  });

  it('a body of exactly 1 MiB is not refused for its size', T, async () => {
    const body = padTo(caseBody(ctx.cfg), 1048576);
    const r = await ctx.client.createCase(body);
    assertOk(r, '1 MiB body');
  });

  it('a header block over 16 KiB answers 431, and the server goes on', T, async () => {
    const path = `${apiBase(ctx.app.streams[0])}createCase`;
    const big = await rawRequest(ctx.server.port, buildRequest({ path, headers: rawHeaders(ctx, [['X-Filler', 'a'.repeat(20 * 1024)]]), body: JSON.stringify(caseBody(ctx.cfg)) }));
    big.conn.destroy();
    assert.equal(big.status, 431, `expected 431, got ${big.statusLine}`);

    const many = [];
    for (let i = 0; i < 40; i++) many.push([`X-Filler-${i}`, 'b'.repeat(500)]);
    const split = await rawRequest(ctx.server.port, buildRequest({ path, headers: rawHeaders(ctx, many), body: JSON.stringify(caseBody(ctx.cfg)) }));
    split.conn.destroy();
    assert.equal(split.status, 431, `20 KiB spread over many headers: expected 431, got ${split.statusLine}`);

    const fine = await rawRequest(ctx.server.port, buildRequest({ path, headers: rawHeaders(ctx, [['X-Filler', 'a'.repeat(8 * 1024)]]), body: JSON.stringify(caseBody(ctx.cfg)) }));
    fine.conn.destroy();
    assertOk(asFetchLike(fine), '8 KiB header');
  });

  it('a request target over 16 KiB answers 414 or 431: long path', T, async () => {
    const path = `${apiBase(ctx.app.streams[0])}createCase${'/x'.repeat(10 * 1024)}`;
    const r = await rawRequest(ctx.server.port, buildRequest({ path, headers: rawHeaders(ctx), body: JSON.stringify(caseBody(ctx.cfg)) }));
    r.conn.destroy();
    assert.ok([414, 431].includes(r.status), `expected 414/431, got ${r.statusLine} ${r.text.slice(0, 200)}`);
  });

  it('a request target over 16 KiB answers 414 or 431: long query string', T, async () => {
    const path = `${apiBase(ctx.app.streams[0])}createCase?${'q'.repeat(20 * 1024)}`;
    const r = await rawRequest(ctx.server.port, buildRequest({ path, headers: rawHeaders(ctx), body: JSON.stringify(caseBody(ctx.cfg)) }));
    r.conn.destroy();
    assert.ok([414, 431].includes(r.status), `expected 414/431 for a 20 KiB query string, got ${r.statusLine} ${r.text.slice(0, 200)}`);
    const h = await request(`${ctx.server.base}/healthz`, { method: 'GET' });
    assert.equal(h.status, 200);
  });

  it('a 431 is an error envelope with reason headers_too_large', T, async () => {
    const path = `${apiBase(ctx.app.streams[0])}createCase`;
    const r = await rawRequest(ctx.server.port, buildRequest({ path, headers: rawHeaders(ctx, [['X-Filler', 'a'.repeat(20 * 1024)]]), body: '{}' }));
    r.conn.destroy();
    assertError(asFetchLike(r), 431, 'headers_too_large');
  });

  it('every response carries X-Request-Id, early transport errors included', T, async () => {
    const path = `${apiBase(ctx.app.streams[0])}createCase`;
    const probes = [
      ['413 from headers', buildRequest({ path, headers: rawHeaders(ctx, [['Content-Length', '99999999']]) })],
      ['431', buildRequest({ path, headers: rawHeaders(ctx, [['X-Filler', 'a'.repeat(20 * 1024)]]), body: '{}' })],
      ['400 framing', buildRequest({ path, headers: [...rawHeaders(ctx), ['Content-Length', '2'], ['Content-Length', '3']], body: '{} ', autoLength: false })],
      ['405', buildRequest({ method: 'GET', path, headers: rawHeaders(ctx) })],
      ['415', buildRequest({ path, headers: [['Host', 'x'], ['Content-Type', 'text/plain'], ['auth', ctx.client.token()]], body: '{}' })],
      ['404', buildRequest({ path: '/nope', headers: [['Host', 'x']], body: '{}' })],
      ['healthz', buildRequest({ method: 'GET', path: '/healthz', headers: [['Host', 'x']] })],
      ['metrics', buildRequest({ method: 'GET', path: '/metrics', headers: [['Host', 'x']] })],
    ];
    const missing = [];
    for (const [name, bytes] of probes) {
      const r = await rawRequest(ctx.server.port, bytes);
      r.conn.destroy();
      if (!REQ_ID_RE.test(r.headers['x-request-id'] ?? '')) missing.push(`${name} (${r.statusLine})`);
    }
    assert.deepEqual(missing, [], `responses without X-Request-Id: ${missing.join(', ')}`);
  });

  it('Expect: 100-continue (as curl sends for larger bodies) gets 100 Continue, then the answer', T, async () => {
    const body = JSON.stringify(caseBody(ctx.cfg, { desc: 'x'.repeat(2000) }));
    const conn = await RawConn.open(ctx.server.port);
    try {
      await conn.write(buildRequest({ path: `${apiBase(ctx.app.streams[0])}createCase`, headers: [...rawHeaders(ctx), ['Expect', '100-continue'], ['Content-Length', String(Buffer.byteLength(body))]] }));
      await conn.until(() => /^HTTP\/1\.1 100 [^\r]*\r\n\r\n/.test(conn.buf.toString('latin1')), 3000, '100 Continue');
      conn.buf = conn.buf.subarray(conn.buf.indexOf('\r\n\r\n') + 4);
      await conn.write(body);
      assertOk(asFetchLike(await conn.readResponse()), 'after 100 Continue');
    } finally {
      conn.destroy();
    }
  });

  it('Expect: 100-continue with a body over the limit gets 413 without 100 Continue', T, async () => {
    const conn = await RawConn.open(ctx.server.port);
    try {
      await conn.write(buildRequest({ path: `${apiBase(ctx.app.streams[0])}createCase`, headers: [...rawHeaders(ctx), ['Expect', '100-continue'], ['Content-Length', String(2 * 1048576)]] }));
      const r = await conn.readResponse(3000);
      assertError(asFetchLike(r), 413, 'body_too_large');
    } finally {
      conn.destroy();
    }
  });

  it('pipelined requests are answered in order', T, async () => {
    const conn = await RawConn.open(ctx.server.port);
    try {
      const path = `${apiBase(ctx.app.streams[0])}createCase`;
      const names = ['first', 'second', 'third'];
      await conn.write(Buffer.concat(names.map((name) => buildRequest({ path, headers: rawHeaders(ctx), body: JSON.stringify(caseBody(ctx.cfg, { name })) }))));
      for (const name of names) {
        const r = await conn.readResponse();
        assertOk(asFetchLike(r), name);
        assert.equal(r.json.name, name);
      }
    } finally {
      conn.destroy();
    }
  });

  it('HTTP/1.0 without Host is served; Connection: close closes', T, async () => {
    const path = `${apiBase(ctx.app.streams[0])}createCase`;
    const r10 = await rawRequest(ctx.server.port, buildRequest({ version: 'HTTP/1.0', path, headers: rawHeaders(ctx).filter(([k]) => k !== 'Host'), body: JSON.stringify(caseBody(ctx.cfg)) }));
    try {
      assertOk(asFetchLike(r10), 'HTTP/1.0');
      assert.ok(await r10.conn.waitClosed(3000), 'HTTP/1.0 connection without keep-alive must close');
    } finally {
      r10.conn.destroy();
    }
    const rc = await rawRequest(ctx.server.port, buildRequest({ path, headers: [...rawHeaders(ctx), ['Connection', 'close']], body: JSON.stringify(caseBody(ctx.cfg)) }));
    try {
      assertOk(asFetchLike(rc), 'Connection: close');
      assert.ok(await rc.conn.waitClosed(3000), 'Connection: close must close');
    } finally {
      rc.conn.destroy();
    }
  });

  describe('framing errors answer 400 and close the connection', () => {
    const cases = [
      ['two differing Content-Length headers', (ctx) => buildRequest({
        path: `${apiBase(ctx.app.streams[0])}createCase`,
        headers: [...rawHeaders(ctx), ['Content-Length', '2'], ['Content-Length', '3']],
        body: '{} ', autoLength: false,
      })],
      ['Content-Length together with Transfer-Encoding: chunked', (ctx) => buildRequest({
        path: `${apiBase(ctx.app.streams[0])}createCase`,
        headers: [...rawHeaders(ctx), ['Content-Length', '7'], ['Transfer-Encoding', 'chunked']],
        body: '2\r\n{}\r\n0\r\n\r\n', autoLength: false,
      })],
      // MHD read a body of any other coding until the connection closed: no answer for 30 s
      ...[['gzip', '{}'], ['gzip, chunked', '2\r\n{}\r\n0\r\n\r\n'], ['identity', '{}'],
        ['chunked\t', '2\r\n{}\r\n0\r\n\r\n']].map(([te, body]) => [
        `Transfer-Encoding: ${te}`, (ctx) => buildRequest({
          path: `${apiBase(ctx.app.streams[0])}getCases`,
          headers: [...rawHeaders(ctx), ['Transfer-Encoding', te]],
          body, autoLength: false,
        })]),
      ['Transfer-Encoding: chunked twice', (ctx) => buildRequest({
        path: `${apiBase(ctx.app.streams[0])}getCases`,
        headers: [...rawHeaders(ctx), ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'chunked']],
        body: '2\r\n{}\r\n0\r\n\r\n', autoLength: false,
      })],
      ['HTTP/1.1 request without Host', (ctx) => buildRequest({
        path: `${apiBase(ctx.app.streams[0])}createCase`,
        headers: rawHeaders(ctx).filter(([k]) => k !== 'Host'),
        body: JSON.stringify(caseBody(ctx.cfg)),
      })],
    ];
    for (const [name, make] of cases) {
      it(name, T, async () => {
        const r = await rawRequest(ctx.server.port, make(ctx));
        try {
          assert.equal(r.status, 400, `expected 400, got ${r.statusLine} ${r.text.slice(0, 300)}`);
          assert.ok(await r.conn.waitClosed(3000), 'connection must be closed after a framing error');
        } finally {
          r.conn.destroy();
        }
      });
    }
  });

  it('a chunked body is read (200) or refused cleanly (411)', T, async () => {
    const json = JSON.stringify(caseBody(ctx.cfg));
    const chunked = `${Buffer.byteLength(json).toString(16)}\r\n${json}\r\n0\r\n\r\n`;
    const r = await rawRequest(ctx.server.port, buildRequest({
      path: `${apiBase(ctx.app.streams[0])}createCase`,
      headers: [...rawHeaders(ctx), ['Transfer-Encoding', 'chunked']],
      body: chunked, autoLength: false,
    }));
    r.conn.destroy();
    assert.ok([200, 411].includes(r.status), `got ${r.statusLine} ${r.text.slice(0, 300)}`);
  });

  it('invalid UTF-8 in a body answers 400 invalid_utf8', T, async () => {
    const json = JSON.stringify(caseBody(ctx.cfg, { name: 'NAMEPLACEHOLDER' }));
    const [a, b] = json.split('NAMEPLACEHOLDER');
    for (const bad of [[0xff, 0xfe], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      const body = Buffer.concat([Buffer.from(a), Buffer.from('bad '), Buffer.from(bad), Buffer.from(b)]);
      const r = await ctx.client.createCase(body);
      assertError(r, 400, ['invalid_utf8', 'invalid_json']);
    }
  });

  it('absurdly deep nesting answers 400 without harming the server', T, async () => {
    const depth = 100_000;
    const r = await ctx.client.createCase('['.repeat(depth) + ']'.repeat(depth));
    assertError(r, 400, ['nesting_too_deep', 'invalid_json', 'invalid_type']);
    const r2 = await ctx.client.createCase(caseBody(ctx.cfg, { userInfo: { _id: 'u-1', name: 'x', deep: JSON.parse('{"a":'.repeat(60) + '1' + '}'.repeat(60)) } }));
    assertError(r2, 400, 'nesting_too_deep');
    const h = await request(`${ctx.server.base}/healthz`, { method: 'GET' });
    assert.equal(h.status, 200);
  });

  it('name is limited to 1024 bytes (not characters)', T, async () => {
    assertOk(await ctx.client.createCase(caseBody(ctx.cfg, { name: 'n'.repeat(1024) })), '1024-byte name');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { name: 'n'.repeat(1025) })), 400, 'string_too_long', 'name');
    assertOk(await ctx.client.createCase(caseBody(ctx.cfg, { name: 'é'.repeat(512) })), '512 × é = 1024 bytes');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { name: 'é'.repeat(513) })), 400, 'string_too_long', 'name');
  });

  it('default string limit is 64 KiB', T, async () => {
    assertOk(await ctx.client.createCase(caseBody(ctx.cfg, { desc: 'd'.repeat(65536) })), '64 KiB desc');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { desc: 'd'.repeat(65537) })), 400, 'string_too_long', 'desc');
  });
});

describe('01 http: configured limits', () => {
  const ctx = useServer({ serverArgs: ['--body-limit', '2048', '--max-depth', '8', '--max-string', '200', '--max-array', '5', '--max-name', '20'] });

  it('--body-limit: a body one byte over answers 413, exactly at the limit is fine', T, async () => {
    assertOk(await ctx.client.createCase(padTo(caseBody(ctx.cfg), 2048)), 'body of exactly --body-limit bytes');
    const r = await ctx.client.createCase(padTo(caseBody(ctx.cfg), 2049));
    assertError(r, 413, 'body_too_large');
    // it said only "the body is too large"
    assert.equal(r.json.errors[0].msg, 'the body is larger than 2048 bytes (--body-limit)');
  });

  it('--body-limit: 413 comes from the headers alone, before the body is sent', T, async () => {
    const conn = await RawConn.open(ctx.server.port);
    try {
      await conn.write(buildRequest({
        path: `${apiBase(ctx.app.streams[0])}createCase`,
        headers: rawHeaders(ctx, [['Content-Length', '5000']]),
      }));
      const r = await conn.readResponse(3000);
      assertError(asFetchLike(r), 413, 'body_too_large');
    } finally {
      conn.destroy();
    }
  });

  it('--body-limit: a chunked body over the limit answers 413 (or 411)', T, async () => {
    const json = padTo(caseBody(ctx.cfg), 4000);
    const chunked = `${Buffer.byteLength(json).toString(16)}\r\n${json}\r\n0\r\n\r\n`;
    const r = await rawRequest(ctx.server.port, buildRequest({
      path: `${apiBase(ctx.app.streams[0])}createCase`,
      headers: [...rawHeaders(ctx), ['Transfer-Encoding', 'chunked']],
      body: chunked, autoLength: false,
    }));
    r.conn.destroy();
    assert.ok([413, 411].includes(r.status), `got ${r.statusLine}`);
  });

  it('--max-depth: nesting deeper than the limit answers 400 nesting_too_deep', T, async () => {
    const nest = (n) => (n === 0 ? 'leaf' : { a: nest(n - 1) });
    assertOk(await ctx.client.createCase(caseBody(ctx.cfg, { userInfo: { _id: 'u-1', name: 'x', extra: nest(3) } })), 'depth 5');
    const r = await ctx.client.createCase(caseBody(ctx.cfg, { userInfo: { _id: 'u-1', name: 'x', extra: nest(12) } }));
    assertError(r, 400, 'nesting_too_deep');
  });

  it('--max-string: a string over the limit answers 400 string_too_long naming the member', T, async () => {
    assertOk(await ctx.client.createCase(caseBody(ctx.cfg, { desc: 'd'.repeat(200) })), '200-byte desc');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { desc: 'd'.repeat(201) })), 400, 'string_too_long', 'desc');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { source: 's'.repeat(300) })), 400, 'string_too_long', 'source');
  });

  it('--max-name: a name (or Title field) over the limit answers 400 string_too_long', T, async () => {
    const c = await ctx.client.createCase(caseBody(ctx.cfg, { name: 'n'.repeat(20) }));
    assertOk(c, '20-byte name');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { name: 'n'.repeat(21) })), 400, 'string_too_long', 'name');
    assertError(await ctx.client.post(`updateCase/${c.json._id}`, { name: 'm'.repeat(21) }), 400, 'string_too_long', 'name');
    assertError(await ctx.client.post(`updateCase/${c.json._id}`, { fields: [{ metaData: { name: 'title' }, selectedValue: 't'.repeat(21) }] }), 400, 'string_too_long', 'fields');
    assertOk(await ctx.client.post(`updateCase/${c.json._id}`, { name: 'm'.repeat(20) }));
  });

  it('--max-array: an array over the limit answers 400 array_too_long naming the member', T, async () => {
    assertOk(await ctx.client.createCase(caseBody(ctx.cfg, { tags: ['a', 'b', 'c', 'd', 'e'] })), '5 tags');
    assertError(await ctx.client.createCase(caseBody(ctx.cfg, { tags: ['a', 'b', 'c', 'd', 'e', 'f'] })), 400, 'array_too_long', 'tags');
  });
});

describe('01 http: slow and idle clients (--idle-timeout 2)', () => {
  const ctx = useServer({ serverArgs: ['--idle-timeout', '2'] });

  it('a client trickling header bytes does not block other clients', T, async () => {
    const slow = await RawConn.open(ctx.server.port);
    const text = `POST ${apiBase(ctx.app.streams[0])}createCase HTTP/1.1\r\nHost: x\r\n`;
    let i = 0;
    const timer = setInterval(() => { if (i < text.length) slow.write(text[i++]); }, 1000);
    try {
      await slow.write(text[i++]);
      for (let k = 0; k < 3; k++) {
        const t0 = Date.now();
        const r = await ctx.client.createCase(caseBody(ctx.cfg));
        const ms = Date.now() - t0;
        assertOk(r);
        assert.ok(ms < 1000, `request took ${ms} ms while a slow client was connected`);
        await sleep(400);
      }
    } finally {
      clearInterval(timer);
      slow.destroy();
    }
  });

  it('an idle connection is closed by the server within ~4 s', T, async () => {
    const conn = await RawConn.open(ctx.server.port);
    const t0 = Date.now();
    try {
      const closed = await conn.waitClosed(6000);
      const ms = Date.now() - t0;
      assert.ok(closed, 'idle connection still open after 6 s with --idle-timeout 2');
      assert.ok(ms <= 4500, `closed after ${ms} ms`);
    } finally {
      conn.destroy();
    }
  });

  it('a kept-alive connection left idle after a response is closed within ~4 s', T, async () => {
    const conn = await RawConn.open(ctx.server.port);
    try {
      await conn.write(buildRequest({ path: `${apiBase(ctx.app.streams[0])}createCase`, headers: rawHeaders(ctx), body: JSON.stringify(caseBody(ctx.cfg)) }));
      assertOk(asFetchLike(await conn.readResponse()));
      const t0 = Date.now();
      assert.ok(await conn.waitClosed(6000), 'kept-alive idle connection still open after 6 s');
      assert.ok(Date.now() - t0 <= 4500, `closed after ${Date.now() - t0} ms`);
    } finally {
      conn.destroy();
    }
  });

  it('a connection that keeps trickling bytes is closed too (slowloris)', { timeout: 20_000 }, async () => {
    const conn = await RawConn.open(ctx.server.port);
    const text = `POST ${apiBase(ctx.app.streams[0])}createCase HTTP/1.1\r\n${'X-Slow: y\r\n'.repeat(50)}`;
    let i = 0;
    const timer = setInterval(() => { if (i < text.length) conn.write(text[i++]); }, 300);
    const t0 = Date.now();
    try {
      const closed = await conn.waitClosed(10_000);
      assert.ok(closed, `a client sending one byte every 300 ms was still connected after ${Date.now() - t0} ms with --idle-timeout 2 (API.md §1: "idle or trickling bytes ... is closed")`);
    } finally {
      clearInterval(timer);
      conn.destroy();
    }
  });
});

describe('01 http: connection limit (--max-connections 4)', () => {
  const ctx = useServer({ serverArgs: ['--max-connections', '4', '--idle-timeout', '10'] });

  it('no more than --max-connections connections are served at once; service resumes after', T, async () => {
    // Over the limit the server may refuse, close, answer 503, or leave the connection
    // waiting in the listen backlog: in no case may it serve more than 4 at once.
    const conns = await pool(16, 16, async () => {
      try { return await RawConn.open(ctx.server.port); } catch { return null; }
    });
    let served = 0;
    let unavailable = 0;
    try {
      await Promise.all(conns.map(async (c) => {
        if (!c) return;
        await c.write(buildRequest({ method: 'GET', path: '/healthz', headers: [['Host', 'x']] }));
        try {
          const r = await c.readResponse(1500);
          if (r.status === 503) unavailable++; else served++;
        } catch { /* closed or still waiting */ }
      }));
      assert.ok(served >= 1, 'nothing was served');
      assert.ok(served <= 4, `${served} connections served at once with --max-connections 4`);
    } finally {
      for (const c of conns) c?.destroy();
    }
    await sleep(300);
    const r = await ctx.client.createCase(caseBody(ctx.cfg));
    assertOk(r, 'after the connections closed');
  });
});
