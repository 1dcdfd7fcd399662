// JWTs minted by the tests themselves (HMAC key = the clientSecret's UTF-8 bytes).
import { createHmac, randomUUID } from 'node:crypto';

const HMAC = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

export const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

export const nowSec = () => Math.floor(Date.now() / 1000);

/**
 * Signs a compact JWS. opts.alg picks the header alg (default HS256);
 * opts.signAlg the HMAC actually used (default: the header alg; '' = no signature);
 * opts.header adds/overrides header members.
 */
export function signJwt(payload, secret, opts = {}) {
  const alg = opts.alg ?? 'HS256';
  const header = { alg, typ: 'JWT', ...(opts.header ?? {}) };
  const data = `${b64url(header)}.${b64url(payload)}`;
  const signAlg = opts.signAlg ?? alg;
  const sig = HMAC[signAlg] ? createHmac(HMAC[signAlg], Buffer.from(secret, 'utf8')).update(data).digest('base64url') : '';
  return `${data}.${sig}`;
}

/** Standard payload for an app: appId, iat now, exp now+ttl; extra claims override (undefined deletes). */
export function claimsFor(app, extra = {}) {
  const iat = nowSec();
  const p = { appId: app.clientId, iat, exp: iat + 600, ...extra };
  for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
  return p;
}

/** A valid token for an app (its pinned alg), with optional claim overrides. */
export function tokenFor(app, extra = {}, opts = {}) {
  return signJwt(claimsFor(app, extra), app.clientSecret, { alg: app.alg ?? 'HS256', ...opts });
}

export function decodeJwt(token) {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signature: s,
  };
}

export const newJti = () => randomUUID();
