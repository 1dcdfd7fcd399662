// getCases/getTasks (API.md §8), property-based: fast-check generates random query bodies (a
// random subset of the filters, values drawn from the seeded data plus misses, spelling variants
// of status/priority names, any sort form, any skip/limit) and a random token sub; the server's
// page (totalResults, ordered _ids, whole documents) must equal the model's (lib/query.mjs).
// Reproduce a failure with CASEMGR_FC_SEED=<seed> CASEMGR_FC_PATH=<path> from the report;
// CASEMGR_FC_RUNS sets the number of bodies per endpoint.
import { describe, it, before } from 'node:test';
import fc from 'fast-check';
import { useServer, H } from './lib/env.mjs';
import {
  TASK, KINDS, ENDPOINT, DAY, SORT_MEMBERS, ETA_BUCKETS, QUEUE_VALUES, PRIORITY_SPELLINGS, STATUS_SPELLINGS,
  TEAMS, WORDS1, WORDS2, seed, addSeedConfig, check, strangerId, isoDay, dayStart,
} from './lib/query.mjs';

const NUM_RUNS = Number(process.env.CASEMGR_FC_RUNS ?? 250);
const FC_SEED = process.env.CASEMGR_FC_SEED === undefined ? undefined : Number(process.env.CASEMGR_FC_SEED);
const FC_PATH = process.env.CASEMGR_FC_PATH;

/** Builds the generator of {body, sub} for one endpoint over the seeded data. */
function queryArb(data, kind) {
  const docs = data.docs(kind);
  const names = docs.map((d) => d.name);
  const refIds = docs.map((d) => d.refId);
  const created = docs.map((d) => d.createdAt);
  const dues = docs.filter((d) => typeof d.dueDate === 'number').map((d) => d.dueDate);
  const agentIds = data.agents.map((a) => a._id);
  const now = Date.now();

  const slice = fc.tuple(fc.constantFrom(...names), fc.nat(), fc.integer({ min: 1, max: 8 }))
    .map(([n, a, len]) => { const i = a % n.length; return n.slice(i, i + len); });
  const caseVariant = (s) => fc.constantFrom(s, s.toLowerCase(), s.toUpperCase());
  const text = fc.oneof(
    { weight: 4, arbitrary: slice.chain(caseVariant) },
    { weight: 2, arbitrary: fc.constantFrom(...WORDS1, ...WORDS2).chain(caseVariant) },
    { weight: 2, arbitrary: fc.constantFrom(...refIds).chain(caseVariant) },
    { weight: 1, arbitrary: fc.constantFrom('%', '_', '0%', 'k_f', ' ', 'zzq', 'TS0', '', '"', "'", '*', 'AND', 'OR', 'NOT', 'NEAR(', '\\', '-', '^', ':') },
  );
  const sub = (arr, max) => fc.subarray(arr, { minLength: 0, maxLength: max ?? arr.length });
  const pick = (arr) => fc.constantFrom(...arr);
  const spelled = (table) => sub(Object.keys(table), 3).chain((ks) => (ks.length ? fc.tuple(...ks.map((k) => pick(table[k]))) : fc.constant([])));
  const instant = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(pick(created), fc.constantFrom(-1, 0, 0, 0, 1)).map(([c, d]) => new Date(Date.parse(c) + d).toISOString()) },
    { weight: 1, arbitrary: fc.constantFrom(isoDay(now), isoDay(now - DAY), isoDay(now + DAY)) },
  );
  const dueDay = fc.oneof(
    { weight: 3, arbitrary: pick(dues).map((d) => isoDay(d)) },
    { weight: 1, arbitrary: fc.integer({ min: -8, max: 50 }).map((k) => isoDay(dayStart(now) + k * DAY)) },
    { weight: 1, arbitrary: pick(dues).map((d) => new Date(d).toISOString()) },
  );
  const scalarOf = (field) => (field === 'team' ? pick([...TEAMS, 'purple']) : field === 'region' ? pick(['EMEA', 'APAC', 'emea', 'LATAM']) : fc.integer({ min: 0, max: 6 }));
  const cfElem = fc.constantFrom(
    { name: 'sev' }, { name: 'team' }, { name: 'region' }, { name: 'nosuch' },
    { _id: data.fieldIds.triageSev, f: 'sev' }, { _id: data.fieldIds.escalationSev, f: 'sev' },
    { _id: data.fieldIds.triageTeam, f: 'team' }, { _id: data.fieldIds.region, f: 'region' },
  ).filter((e) => e.name || e._id).chain((e) => {
    const field = e.f ?? e.name;
    const key = e._id ? { _id: e._id } : { name: e.name };
    return fc.oneof(scalarOf(field), fc.array(scalarOf(field), { minLength: 1, maxLength: 3 })).map((value) => ({ ...key, value }));
  });
  const sortBy = fc.oneof(
    fc.tuple(pick(SORT_MEMBERS), pick(['asc', 'desc', 1, -1])).map(([m, d]) => ({ [m]: d })),
    pick([...SORT_MEMBERS, 'createdDate']),
  );

  const gens = {
    searchText: text,
    name: text,
    unresolved: fc.boolean(),
    unassigned: fc.boolean(),
    mycase: fc.boolean(),
    mytask: fc.boolean(),
    priority: spelled(PRIORITY_SPELLINGS),
    status: spelled(STATUS_SPELLINGS),
    channel: sub(['rtm', 'email', 'chat', 'voice', 'sms', 'web', 'nope'], 3),
    queues: sub([...QUEUE_VALUES, 'qu-miss'], 3),
    agents: sub([...agentIds, 'u-nobody'], 3),
    startDate: instant,
    endDate: instant,
    dueDate: dueDay,
    ETAlist: sub(ETA_BUCKETS, 3),
    customFields: fc.array(cfElem, { minLength: 1, maxLength: 2 }),
    sortBy,
    selectedColumns: fc.subarray(['name', 'status', 'dueDate', 'priority', 'refId', 'isBreached', 'queues', 'currAssignee', 'createdAt'], { minLength: 1, maxLength: 3 }),
    skip: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: docs.length + 5 }) }),
    limit: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 500 }), fc.constant(50)),
  };
  if (kind === TASK) gens.caseId = fc.oneof(pick(data.cases.map((c) => c._id)), fc.constant('ci-0000000-0000-4000-8000-000000000000'));
  const keys = Object.keys(gens);
  const bodyArb = fc.subarray(keys, { minLength: 0, maxLength: 5 })
    .chain((ks) => fc.record(Object.fromEntries(ks.map((k) => [k, gens[k]]))));
  const subArb = fc.oneof(fc.constant(undefined), pick(agentIds), fc.constant(strangerId()));
  return fc.record({ body: bodyArb, sub: subArb });
}

describe('getCases/getTasks agree with a model on random queries (API.md §8, fast-check)', () => {
  const ctx = useServer({ beforeStart: (c) => addSeedConfig(c.env, c.app.streams[0]) });
  let data;
  before(async () => { data = await seed(ctx, { cases: 40, tasksPerCase: 7, seed: 24 }); }, H);

  for (const kind of KINDS) {
    it(`${ENDPOINT[kind]}: ${NUM_RUNS} random bodies`, { timeout: 45_000 }, async () => {
      let nonEmpty = 0;
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(queryArb(data, kind), async ({ body, sub }) => {
          const r = await check(data, kind, body, { sub });
          runs++;
          if (r.page.totalResults > 0) nonEmpty++;
        }),
        { numRuns: NUM_RUNS, seed: FC_SEED, path: FC_PATH, endOnFailure: false, interruptAfterTimeLimit: 40_000 },
      );
      // the generator must not degenerate into empty answers only
      if (nonEmpty < runs / 5) throw new Error(`only ${nonEmpty} of ${runs} random bodies matched anything`);
    });
  }
});
