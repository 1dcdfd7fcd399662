// Helpers for the getCases/getTasks suites (tests/e2e/2*.test.mjs, API.md §8): list calls,
// the response-shape check, a seeded data set built over HTTP (createCase/createTask/updateTask/
// updateCase) whose final documents form the model, and the model itself: a filter, a sort and
// a pager written here from the spec, to compare the server's answers with.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { pool, ids } from './env.mjs';
import { assertOk, caseBody, taskBody, DAY, JSON_CT } from './client.mjs';

export { DAY };
export const CASE = 'case';
export const TASK = 'task';
export const KINDS = [CASE, TASK];
export const ENDPOINT = { [CASE]: 'getCases', [TASK]: 'getTasks' };
export const PAGE_KEYS = ['hasMore', 'limit', 'page', 'results', 'totalPages', 'totalResults'];
export const ETA_BUCKETS = ['overdue', 'today', 'tomorrow', 'thisWeek', 'later', 'none'];
export const SORT_MEMBERS = ['createdAt', 'updatedAt', 'dueDate', 'priority', 'name', 'refId'];

// ------------------------------------------------------------------ requests

/** POST getCases/getTasks. */
export function list(client, kind, body, opts) {
  return client.post(ENDPOINT[kind], body, opts);
}

/** Asserts 200 and the exact page shape of API.md §8 for the given skip/limit; returns the JSON. */
export function assertPage(r, { skip = 0, limit = 50 } = {}, what = 'list') {
  assertOk(r, what);
  assert.match(r.headers.get('content-type') ?? '', JSON_CT, `${what}: content-type`);
  const p = r.json;
  assert.deepEqual(Object.keys(p).sort(), PAGE_KEYS, `${what}: the page has exactly ${PAGE_KEYS.join(', ')}; got ${Object.keys(p).join(', ')}`);
  assert.ok(Array.isArray(p.results), `${what}: results is an array`);
  assert.ok(Number.isInteger(p.totalResults) && p.totalResults >= 0, `${what}: totalResults ${p.totalResults}`);
  assert.equal(p.limit, limit, `${what}: limit`);
  assert.equal(p.page, Math.floor(skip / limit) + 1, `${what}: page = skip/limit + 1 (skip ${skip}, limit ${limit})`);
  assert.equal(p.totalPages, Math.ceil(p.totalResults / limit), `${what}: totalPages = ceil(${p.totalResults}/${limit})`);
  assert.equal(p.results.length, Math.max(0, Math.min(limit, p.totalResults - skip)), `${what}: results length for skip ${skip}, limit ${limit}, total ${p.totalResults}`);
  assert.equal(p.hasMore, skip + p.results.length < p.totalResults, `${what}: hasMore`);
  return p;
}

/** list() that must answer a well-formed page; returns the page JSON. */
export async function listOk(client, kind, body, opts, what) {
  const r = await list(client, kind, body, opts);
  const skip = body && Number.isInteger(body.skip) ? body.skip : 0;
  const limit = body && Number.isInteger(body.limit) ? body.limit : 50;
  return assertPage(r, { skip, limit }, what ?? `${ENDPOINT[kind]} ${JSON.stringify(body)?.slice(0, 300)}`);
}

// ------------------------------------------------------------------ the model

/** Status/priority names as API.md §4 matches them: case-insensitive, ' ' '-' '_' alike. */
export const normName = (s) => String(s).toLowerCase().replace(/[ _-]/g, ' ');

export function statusByName(cfg, name) {
  return cfg.statuses.find((s) => normName(s.name) === normName(name));
}
export function priorityByName(cfg, name) {
  return cfg.priorities.find((p) => normName(p.name) === normName(name));
}

/** Lower-cases like the server's lname (Unicode simple lower-casing): searchText/name are
 *  case-insensitive for every cased letter. */
export const lowerAscii = (s) => String(s).toLowerCase();

const nonEmptyStr = (v) => typeof v === 'string' && v !== '';
const nonEmptyArr = (v) => Array.isArray(v) && v.length > 0;

/** UTC day start of a ms instant. */
export const dayStart = (ms) => Math.floor(ms / DAY) * DAY;

/** The ETA buckets' [from, to) ranges at `now` (the brief's definition). */
export function etaRanges(now) {
  const t0 = dayStart(now);
  const t1 = t0 + DAY;
  const t2 = t0 + 2 * DAY;
  const weekday = (Math.floor(t0 / DAY) + 3) % 7; // Monday = 0 (1970-01-01 was a Thursday)
  let weekEnd = t0 + (7 - weekday) * DAY;
  if (weekEnd < t2) weekEnd = t2;
  return {
    overdue: [-Infinity, now],
    today: [now, t1],
    tomorrow: [t1, t2],
    thisWeek: [t2, weekEnd],
    later: [weekEnd, Infinity],
  };
}

/** The bucket of a dueDate (undefined/absent = none). */
export function etaBucket(due, now) {
  if (typeof due !== 'number') return 'none';
  const r = etaRanges(now);
  for (const [k, [a, b]] of Object.entries(r)) if (due >= a && due < b) return k;
  throw new Error(`no bucket for ${due}`);
}

export const unresolved = (doc) => ['open', 'inProgress'].includes(doc.status?.statusCategory);

/** isBreached as API.md §5 derives it at `now`. */
export const breachedAt = (doc, now) => unresolved(doc) && typeof doc.dueDate === 'number' && doc.dueDate < now;

/** A copy of the document with isBreached as of now. */
export function withBreach(doc, now) {
  return { ...doc, isBreached: breachedAt(doc, now) };
}

/** Parses an ISO date or date-time the way the tests expect the server to (ms), NaN when not. */
export function parseIso(s) {
  if (/^\d{4}-\d\d-\d\d$/.test(s)) return Date.parse(`${s}T00:00:00.000Z`);
  return Date.parse(s);
}

/** parseIso for a lower bound: digits past the millisecond that are not all 0 round up. */
function parseIsoCeil(s) {
  const finer = /[.,]\d{3}(\d+)/.exec(s);
  return parseIso(s) + (finer && /[1-9]/.test(finer[1]) ? 1 : 0);
}

function fieldMatches(doc, cf) {
  const values = Array.isArray(cf.value) ? cf.value : [cf.value];
  const hasId = nonEmptyStr(cf._id);
  return (doc.fields ?? []).some((f) => (hasId ? f._id === cf._id : f.metaData?.name === cf.name)
    && 'selectedValue' in f && values.some((v) => v === f.selectedValue));
}

/**
 * Does a document match a (valid) query body? ctx: { cfg, sub (token sub or undefined), now }.
 */
export function matches(doc, body, ctx) {
  const b = body ?? {};
  if (nonEmptyStr(b.searchText)) {
    const s = lowerAscii(b.searchText);
    if (!(lowerAscii(doc.name).includes(s) || lowerAscii(doc.refId) === s)) return false;
  }
  if (nonEmptyStr(b.name) && !lowerAscii(doc.name).includes(lowerAscii(b.name))) return false;
  if (b.unresolved === true && !unresolved(doc)) return false;
  if (b.unassigned === true && assigneeOf(doc)) return false;
  if (b.mycase === true || b.mytask === true) {
    if (!ctx.sub || assigneeOf(doc) !== ctx.sub) return false;
  }
  if (nonEmptyArr(b.priority)) {
    const names = b.priority.map((n) => priorityByName(ctx.cfg, n)?.name);
    if (!names.includes(doc.priority?.name)) return false;
  }
  if (nonEmptyArr(b.status)) {
    const names = b.status.map((n) => statusByName(ctx.cfg, n)?.name);
    if (!names.includes(doc.status?.name)) return false;
  }
  if (nonEmptyArr(b.channel)) {
    if (!b.channel.some((c) => (doc.channel ?? []).includes(c) || doc.source === c)) return false;
  }
  if (nonEmptyArr(b.queues)) {
    const q = doc.queues ?? [];
    const has = (v) => q.some((e) => (typeof e === 'string' ? e === v : e && typeof e === 'object' && (e._id === v || e.name === v)));
    if (!b.queues.some(has)) return false;
  }
  if (nonEmptyArr(b.agents) && !b.agents.includes(assigneeOf(doc))) return false;
  const created = Date.parse(doc.createdAt);
  if (nonEmptyStr(b.startDate) && created < parseIsoCeil(b.startDate)) return false;
  if (nonEmptyStr(b.endDate)) {
    let end = parseIso(b.endDate);
    if (/^\d{4}-\d\d-\d\d$/.test(b.endDate)) end += DAY - 1;
    if (created > end) return false;
  }
  if (nonEmptyStr(b.dueDate)) {
    const d = dayStart(parseIso(b.dueDate));
    if (typeof doc.dueDate !== 'number' || doc.dueDate < d || doc.dueDate >= d + DAY) return false;
  }
  if (nonEmptyArr(b.ETAlist) && !b.ETAlist.includes(etaBucket(doc.dueDate, ctx.now))) return false;
  if (nonEmptyStr(b.caseId) && doc.caseId !== b.caseId) return false;
  if (nonEmptyArr(b.customFields) && !b.customFields.every((cf) => fieldMatches(doc, cf))) return false;
  return true;
}

/** {member, desc} of a (valid) sortBy. */
export function sortSpec(sortBy) {
  if (sortBy === undefined || sortBy === null) return { member: 'createdAt', desc: true };
  if (typeof sortBy === 'string') return { member: sortBy === 'createdDate' ? 'createdAt' : sortBy, desc: true };
  const [member, dir] = Object.entries(sortBy)[0];
  return { member, desc: dir === 'desc' || dir === -1 };
}

const refNum = (r) => Number(String(r).replace(/^\D+/, ''));
const SORT_KEY = {
  createdAt: (d) => Date.parse(d.createdAt),
  updatedAt: (d) => Date.parse(d.updatedAt),
  dueDate: (d) => (typeof d.dueDate === 'number' ? d.dueDate : undefined),
  priority: (d) => d.priority?.score,
  name: (d) => lowerAscii(d.name),
  refId: (d) => refNum(d.refId),
};
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** The members whose ties are common (no dueDate, a few priorities, names alike): in refId order. */
const TIES_BY_REF = new Set(['dueDate', 'priority', 'name']);

/**
 * A comparator for a sortBy: records without the member last; ties by refId (dueDate, priority
 * and name), then by _id, in the same direction.
 */
export function comparator(sortBy) {
  const { member, desc } = sortSpec(sortBy);
  const key = SORT_KEY[member];
  const byRef = TIES_BY_REF.has(member);
  const sign = desc ? -1 : 1;
  return (a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka === undefined && kb !== undefined) return 1;
    if (kb === undefined && ka !== undefined) return -1;
    if (ka !== undefined && kb !== undefined) {
      const c = cmp(ka, kb);
      if (c) return sign * c;
    }
    if (byRef) {
      const c = cmp(refNum(a.refId), refNum(b.refId));
      if (c) return sign * c;
    }
    return sign * cmp(a._id, b._id);
  };
}

/** Every matching document of `docs`, in the body's order (no paging). */
export function expectAll(docs, body, ctx) {
  return docs.filter((d) => matches(d, body, ctx)).sort(comparator(body?.sortBy));
}

/** The model's page for a body: { all, page (documents), total }. */
export function expectPage(docs, body, ctx) {
  const all = expectAll(docs, body, ctx);
  const skip = body?.skip ?? 0;
  const limit = body?.limit ?? 50;
  return { all, page: all.slice(skip, skip + limit), total: all.length };
}

/** A document as selectedColumns shows it: _id plus the selected members it has (all when none). */
export function project(doc, columns) {
  if (!nonEmptyArr(columns)) return doc;
  const out = { _id: doc._id };
  for (const c of columns) if (c in doc) out[c] = doc[c];
  return out;
}

const label = (d) => `${d._id} ${d.refId} ${JSON.stringify(d.name)}`;

/** Asserts that a list of result documents has the expected _ids in order, with a readable diff. */
export function assertIds(got, expected, what) {
  const g = got.map((d) => d._id);
  const e = expected.map((d) => d._id);
  if (g.length === e.length && g.every((x, i) => x === e[i])) return;
  const gs = new Set(g);
  const es = new Set(e);
  const missing = expected.filter((d) => !gs.has(d._id)).slice(0, 8).map(label);
  const extra = got.filter((d) => !es.has(d._id)).slice(0, 8).map((d) => `${d._id} ${d.refId ?? ''} ${JSON.stringify(d.name ?? '')}`);
  const first = g.findIndex((x, i) => x !== e[i]);
  assert.fail(`${what}: expected ${e.length} records, got ${g.length}\n  missing: ${missing.join('; ') || '-'}\n  unexpected: ${extra.join('; ') || '-'}\n  first difference at index ${first}: got ${g[first]}, expected ${e[first]}`);
}

/**
 * Runs one query and compares it with the model: page shape, totalResults, ordered _ids and
 * (unless opts.idsOnly) whole documents (isBreached as of now). Returns { page, expected }.
 */
export async function check(data, kind, body, opts = {}) {
  const client = opts.client ?? data.client;
  const sub = opts.sub;
  const reqOpts = sub ? { claims: { sub } } : {};
  const what = `${ENDPOINT[kind]} ${JSON.stringify(body)}${sub ? ` (token sub ${sub})` : ''}`;
  const r = await list(client, kind, body, reqOpts);
  const now = Date.now();
  const exp = expectPage(data.docs(kind), body, { cfg: data.cfg, sub, now });
  const skip = Number.isInteger(body?.skip) ? body.skip : 0;
  const limit = Number.isInteger(body?.limit) ? body.limit : 50;
  const page = assertPage(r, { skip, limit }, what);
  assert.equal(page.totalResults, exp.total, `${what}: totalResults (model: ${exp.total})${exp.total !== page.totalResults ? `\n  got: ${page.results.slice(0, 8).map(label).join('; ')}\n  expected: ${exp.page.slice(0, 8).map(label).join('; ')}` : ''}`);
  assertIds(page.results, exp.page, what);
  if (!opts.idsOnly) {
    for (let i = 0; i < page.results.length; i++) {
      assert.deepEqual(page.results[i], project(withBreach(exp.page[i], now), body?.selectedColumns), `${what}: result ${i} (${exp.page[i]._id}) is the stored document${nonEmptyArr(body?.selectedColumns) ? ' projected' : ''}`);
    }
  }
  if (opts.nonEmpty) assert.ok(exp.total > 0, `${what}: the seed should make this query non-empty`);
  return { page, expected: exp };
}

// ------------------------------------------------------------------ seeding

/** A small deterministic PRNG (mulberry32), so a data set is the same on every run. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
  };
}

export const WORDS1 = ['Printer', 'Billing', 'Refund', 'Login', 'Network', 'Password', 'VPN', 'Invoice'];
export const WORDS2 = ['issue', 'request', 'error', 'outage', 'Testing', 'question'];
export const WORDS3 = ['', '', '', 'urgent', '100% done', '100 done', 'disk_full', 'disk full', 'VIP customer', 'again'];
/** Names with non-ASCII letters (folded by searchText/name like ASCII ones). */
export const NON_ASCII_NAMES = ['Crème brûlée request', 'naïve café question', 'Ünïcode Testing', 'Straße outage'];
/** Names with the characters of SQL LIKE, FTS5 query syntax and quoting. */
export const ODD_NAMES = ['Quote "this" now', "It's an O'Reilly book", 'a*b (NEAR) AND OR NOT', 'C:\\path\\to-file', 'minus -x ^caret {col}:1', "x'; DROP TABLE records; --"];
export const SOURCES = ['rtm', 'email', 'chat', 'voice', 'sms'];
export const CHANNELS = [[], [], ['chat'], ['email', 'voice'], ['rtm'], ['web'], ['sms', 'chat']];
export const QUEUES = [
  [], [], ['Tier 1'], [{ _id: 'qu-billing', name: 'Billing' }], [{ _id: 'qu-net', name: 'Network Ops' }, 'Tier 2'],
  ['qu-billing'], [{ _id: 'qu-vip', name: 'VIP' }], ['Tier 1', 'Tier 2'],
];
/** Queue values a query may use (names, ids, and plain strings). */
export const QUEUE_VALUES = ['Tier 1', 'Tier 2', 'Billing', 'qu-billing', 'Network Ops', 'qu-net', 'VIP', 'qu-vip'];
export const PRIORITY_SPELLINGS = { Low: ['Low', 'low'], Medium: ['Medium', 'MEDIUM'], High: ['High', 'high'], Critical: ['Critical', 'critical'], 'P0 Blocker': ['P0 Blocker', 'p0-blocker', 'P0_BLOCKER'] };
export const STATUS_SPELLINGS = {
  Open: ['Open', 'open'], 'In-Progress': ['In-Progress', 'in progress', 'IN_PROGRESS'], 'On-Hold': ['On-Hold', 'on hold'],
  Resolved: ['Resolved', 'resolved'], Closed: ['Closed', 'CLOSED'], 'Waiting on Customer': ['Waiting on Customer', 'waiting-on_customer'],
};
export const TEAMS = ['blue', 'Blue', 'red', 'green'];

function nameFor(r) {
  let n = `${r.pick(WORDS1)} ${r.pick(WORDS2)}`;
  const w3 = r.pick(WORDS3);
  if (w3) n += ` ${w3}`;
  const c = r.int(6);
  if (c === 0) n = n.toUpperCase();
  else if (c === 1) n = n.toLowerCase();
  return n;
}

/** A dueDate of a bucket kind, away from the bucket edges (undefined for none). */
function dueOf(kind, now, r) {
  const e = etaRanges(now);
  switch (kind) {
    case 'pastFar': return now - 5 * DAY - r.int(10) * 3_600_000;
    case 'past': return now - 2 * 3_600_000 - r.int(60) * 60_000;
    case 'today': {
      const left = e.today[1] - now;
      return left > 30 * 60_000 ? now + Math.min(3 * 3_600_000, Math.floor(left / 2)) + r.int(5) * 1000 : now - 3 * 3_600_000;
    }
    case 'tomorrow': return e.tomorrow[0] + r.pick([2, 9, 14, 20]) * 3_600_000 + r.int(1000);
    case 'thisWeek': return e.tomorrow[1] + 12 * 3_600_000 + r.int(1000);
    case 'later': return now + r.pick([9, 12, 30, 45]) * DAY + r.int(1000);
    default: return undefined;
  }
}
const DUE_KINDS = ['pastFar', 'past', 'today', 'tomorrow', 'tomorrow', 'thisWeek', 'later', 'later', 'none', 'none'];

/** The user a record is assigned to: currAssignee's _id, else its agentId (the vendor's own
 * documents carry {aId, name, agentId}); undefined when neither is a non-empty string. */
export function assigneeOf(doc) {
  const a = doc.currAssignee;
  if (nonEmptyStr(a?._id)) return a._id;
  return nonEmptyStr(a?.agentId) ? a.agentId : undefined;
}

/** Four agents: user ids the seed assigns records to (and tokens' sub for mycase/mytask). */
export function makeAgents() {
  return ['Ann Lee', 'Bo Chen', 'Cy Diaz', 'Di Eto'].map((name) => ({ _id: ids.user(), name }));
}

/**
 * Adds the seed's configuration through the CLI (call before the server starts): two task
 * templates with custom fields (both have "sev"), a case template with "region", and a custom
 * status "Waiting on Customer". Returns nothing; read it back with env.streamConfig.
 */
export async function addSeedConfig(env, stream) {
  await env.cliJson(['template', 'add', '--stream', stream, '--kind', 'task', '--name', 'Triage', '--field', 'sev:number', '--field', 'team:input']);
  await env.cliJson(['template', 'add', '--stream', stream, '--kind', 'task', '--name', 'Escalation', '--field', 'sev:number']);
  await env.cliJson(['template', 'add', '--stream', stream, '--kind', 'case', '--name', 'Regional', '--field', 'region:input']);
  await env.cliJson(['status', 'add', '--stream', stream, '--name', 'Waiting on Customer', '--category', 'inProgress']);
  // the same score as Critical: sorting by priority ties the two, broken by refId
  await env.cliJson(['priority', 'add', '--stream', stream, '--name', 'P0 Blocker', '--score', '15']);
}

function post(client, path, body, opts) {
  return client.post(path, body, opts).then((r) => {
    assertOk(r, `${path} ${JSON.stringify(body).slice(0, 300)}`);
    return r.json;
  });
}

const STATUS_NAMES = ['Open', 'Open', 'In-Progress', 'On-Hold', 'Resolved', 'Closed', 'Waiting on Customer'];

/**
 * Seeds one data set through the API and returns the model:
 *   { client, cfg, agents, cases[], tasks[], docs(kind), byId, soonId, startedAt, ... }
 * Cases: createCase (some with the Regional template), then tasks: createTask (plain, Triage or
 * Escalation template, with custom field values), then updateTask on about a third, then
 * updateCase on every case (a no-op {} for most: its answer is the case as stored now).
 * opts: cases (number), tasksPerCase (max, random 0..n), seed, width (parallel requests).
 */
export async function seed(ctx, opts = {}) {
  const client = ctx.client;
  const cfg = ctx.cfg;
  const r = rng(opts.seed ?? 1);
  const ncases = opts.cases ?? 40;
  const perCase = opts.tasksPerCase ?? 8;
  const width = opts.width ?? 8;
  const agents = opts.agents ?? makeAgents();
  // every third assignment in the vendor's shape, naming the user by agentId (no _id)
  let assignments = 0;
  const assignTo = (a) => (assignments++ % 3 === 2 ? { aId: `a-${a._id.slice(2, 9)}`, name: a.name, agentId: a._id } : { ...a });
  const now = Date.now();
  const tmpl = (name) => cfg.taskTemplates.find((t) => t.name === name);
  const triage = tmpl('Triage');
  const escalation = tmpl('Escalation');
  const regional = cfg.caseTemplates.find((t) => t.name === 'Regional');

  const priorityNames = Object.keys(PRIORITY_SPELLINGS).filter((n) => priorityByName(cfg, n));
  const attrs = (i) => {
    const o = {
      name: nameFor(r),
      source: r.pick(SOURCES),
      channel: r.pick(CHANNELS),
      queues: r.pick(QUEUES),
      priority: { name: r.pick(PRIORITY_SPELLINGS[r.pick(priorityNames)]) },
      status: { name: r.pick(STATUS_NAMES) },
    };
    if (r.chance(0.6)) o.currAssignee = assignTo(r.pick(agents));
    if (i % 17 === 3) o.name = 'Testing the vendor sample';
    if (i % 13 === 5) o.name = ODD_NAMES[Math.floor(i / 13) % ODD_NAMES.length];
    if (i % 19 === 7) o.name = NON_ASCII_NAMES[Math.floor(i / 19) % NON_ASCII_NAMES.length];
    return o;
  };

  // cases
  const casePlans = Array.from({ length: ncases }, (_, i) => {
    const a = attrs(i);
    const dueKind = r.pick(DUE_KINDS);
    const over = { ...a, dueDate: dueOf(dueKind === 'none' ? 'later' : dueKind, now, r) };
    if (regional && r.chance(0.4)) {
      over.caseTmp = regional._id;
      if (r.chance(0.8)) over.fields = [{ metaData: { name: 'region' }, selectedValue: r.pick(['EMEA', 'APAC', 'emea']) }];
    }
    // a Closed case is closed at the end (its tasks must be updatable until then)
    const finalStatus = over.status.name;
    if (finalStatus === 'Closed') over.status = { name: 'Open' };
    const upd = {};
    if (finalStatus === 'Closed') upd.status = { name: 'Closed' };
    if (dueKind === 'none') upd.dueDate = null;
    if (r.chance(0.25)) upd.currAssignee = r.chance(0.5) ? {} : assignTo(r.pick(agents));
    if (r.chance(0.15)) upd.name = nameFor(r);
    return { over, upd };
  });
  const cases = await pool(ncases, width, (i) => post(client, 'createCase', caseBody(cfg, casePlans[i].over)));

  // tasks (the vendor-sample records first: Critical, In-Progress, source rtm, due in the past and later)
  const taskPlans = [];
  for (let ci = 0; ci < ncases; ci++) {
    const n = ci === 0 ? Math.max(perCase, 4) : r.int(perCase + 1);
    for (let k = 0; k < n; k++) {
      const a = attrs(taskPlans.length);
      const over = { ...a };
      const dueKind = r.pick(DUE_KINDS);
      if (dueKind !== 'none') over.dueDate = dueOf(dueKind, now, r);
      const t = r.int(3);
      if (t === 1 && triage) {
        over.taskTmp = triage._id;
        const f = [];
        if (r.chance(0.85)) f.push({ metaData: { name: 'sev' }, selectedValue: 1 + r.int(5) });
        if (r.chance(0.85)) f.push({ metaData: { name: 'team' }, selectedValue: r.pick(TEAMS) });
        if (f.length) over.fields = f;
      } else if (t === 2 && escalation) {
        over.taskTmp = escalation._id;
        if (r.chance(0.85)) over.fields = [{ metaData: { name: 'sev' }, selectedValue: 1 + r.int(5) }];
      }
      if (ci === 0 && k < 3) {
        Object.assign(over, { priority: { name: 'Critical' }, status: { name: 'In-Progress' }, source: k === 2 ? 'email' : 'rtm', channel: k === 2 ? ['rtm'] : [] });
        over.dueDate = k === 0 ? now - DAY : now + 20 * DAY;
      }
      const upd = {};
      if (r.chance(0.35)) {
        if (r.chance(0.5)) upd.status = { name: r.pick(STATUS_NAMES) };
        if (r.chance(0.4)) upd.currAssignee = r.chance(0.3) ? {} : assignTo(r.pick(agents));
        if (r.chance(0.3)) upd.name = nameFor(r);
        if (r.chance(0.25)) upd.dueDate = r.chance(0.4) ? null : dueOf(r.pick(DUE_KINDS.slice(0, 8)), now, r);
        if (r.chance(0.2)) upd.queues = r.pick(QUEUES);
        if (r.chance(0.2)) upd.priority = { name: r.pick(priorityNames) };
        if (triage && over.taskTmp === triage._id && r.chance(0.5)) upd.fields = [{ metaData: { name: 'team' }, selectedValue: r.pick(TEAMS) }];
      }
      // the vendor-sample records keep what they were created with
      taskPlans.push({ ci, over, upd: ci === 0 && k < 3 ? {} : upd });
    }
  }
  // dueDates on the edges of UTC days and ETA buckets, and names that hold a refId
  const e = etaRanges(now);
  const edges = [e.tomorrow[0], e.tomorrow[0] - 1, e.tomorrow[1] - 1, e.tomorrow[1], e.thisWeek[1], e.thisWeek[1] - 1, e.later[0] + DAY];
  edges.forEach((due, k) => taskPlans.push({ ci: k % ncases, over: { name: `Boundary ${k} request`, status: { name: 'Open' }, dueDate: due }, upd: {} }));
  taskPlans.push({ ci: 2 % ncases, over: { name: `Follow-up of ${cases[1].refId}` }, upd: {} });
  taskPlans.push({ ci: 2 % ncases, over: { name: 'Follow-up of TS000003 and cs000004' }, upd: {} });
  // one task due in a moment: stored isBreached false, read as true once the moment passed. It
  // is created last and on its own, its moment fixed just before: however long the others take
  // on a busy machine, it is not due yet when created.
  const soon = { ci: 1 % ncases, over: { name: 'Soon due task', status: { name: 'Open' } }, upd: {}, soon: true };
  const createTask = (j) => post(client, 'createTask', taskBody(cfg, cases[taskPlans[j].ci], taskPlans[j].over));
  let tasks = await pool(taskPlans.length, width, createTask);
  const soonDue = Date.now() + 1500;
  soon.over.dueDate = soonDue;
  taskPlans.push(soon);
  tasks.push(await createTask(taskPlans.length - 1));
  const soonId = tasks.at(-1)._id;
  const createdTasks = tasks.slice();
  tasks = await pool(tasks.length, width, (j) => (Object.keys(taskPlans[j].upd).length
    ? post(client, `updateTask/${tasks[j]._id}`, taskPlans[j].upd) : tasks[j]));
  const finalCases = await pool(ncases, width, (i) => post(client, `updateCase/${cases[i]._id}`, casePlans[i].upd));

  // let the "soon" task's due moment pass
  const wait = soonDue + 100 - Date.now();
  if (wait > 0) await new Promise((res) => setTimeout(res, wait));

  const byId = new Map([...finalCases, ...tasks].map((d) => [d._id, d]));
  return {
    client,
    cfg,
    agents,
    cases: finalCases,
    tasks,
    createdTasks,
    soonId,
    byId,
    fieldIds: {
      triageSev: triage?.fields.find((f) => f.metaData?.name === 'sev')?._id,
      triageTeam: triage?.fields.find((f) => f.metaData?.name === 'team')?._id,
      escalationSev: escalation?.fields.find((f) => f.metaData?.name === 'sev')?._id,
      region: regional?.fields.find((f) => f.metaData?.name === 'region')?._id,
    },
    docs(kind) { return kind === CASE ? this.cases : this.tasks; },
  };
}

/** A fresh random user id that no record is assigned to. */
export const strangerId = () => `u-${randomUUID()}`;

/** YYYY-MM-DD of a ms instant (UTC). */
export const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
