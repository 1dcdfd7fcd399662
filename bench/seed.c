/* seed — fills one stream with realistic cases and tasks for `make bench` (issues 4 and 6).
 *
 * Every document is built by the server's own code (doc_create_case / doc_create_task,
 * doc_set_ref, doc_record_from) from a create body like a client's, so what the benchmark reads
 * and updates has exactly the shape createTask produces. Tasks are built by --builders threads
 * in batches while the main thread commits the batches in order through store_write, so every
 * core works at once. A write callback touches only its batch (store.h). refIds are numbered up
 * front from the stream's counters and each put bumps the counter in the same transaction,
 * checking it agrees, so the counters end where a server would have left them.
 *
 * The load runs in the store's bulk mode (store_bulk_begin/end): the records table's secondary
 * indexes, name index and triggers are dropped first and built once at the end, which is several
 * times faster than keeping a dozen indexes up to date through a million inserts, and the
 * database is written without the WAL and synced once at the end (store.h). The builders run
 * at a lower priority than the writer thread, the stage everything waits on (BUILDER_NICE).
 *
 *   casemgr-seed --db sqlite:PATH --stream st-… --account ACC --tasks N --cases M
 *                [--key-file PATH] [--org o-…] [--user u-bench-1] [--word quokka]
 *                [--ids-out FILE] [--cases-out FILE] [--json-out FILE] [--batch N]
 *                [--builders N] [--seed S]
 *
 * stdout: the app as `casemgr app create` prints it, plus what the benchmark needs to know
 * (template ids, the search word, counts, seconds). */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin/cli.h"
#include "auth/apps.h"
#include "doc/config.h"
#include "doc/create.h"
#include "doc/record.h"
#include "store/store.h"
#include "util/id.h"
#include "util/mem.h"
#include "util/time.h"

#define TASK_TMPL_ID "ttm-bench"
#define IDS_SAMPLE_MAX 100000
#define BUILDERS_MAX 16
/* The builders' niceness. They run in parallel and only need to stay ahead of the one writer
 * thread, which the load waits on: with equal priorities three busy threads shared the two cores
 * and the writer got two thirds of one (1,000,000 tasks: 40 s in transactions and commits; at
 * nice 10, 25 s). Not nicer than 5: the machine is shared, and at nice 10 other processes'
 * threads took the builders' time (30 s waiting for them in a 1,000,000-task run at load 12). */
#define BUILDER_NICE 5
#define DAY_MS (24LL * 3600 * 1000)

struct seed_opts {
    const char *db, *key_file, *stream, *account, *org, *user, *word;
    const char *ids_out, *cases_out, *json_out;
    long long tasks, cases, batch, builders;
    unsigned long long seed;
};

/* ---- deterministic randomness (xorshift64*): the same --seed gives the same data ---- */

/* one stream per thread: the builders each draw from their own (seeded from --seed and their
 * number), so a run is reproducible for a given --seed and --builders */
static _Thread_local uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* Uniform in [0, n). */
static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

/* True with probability percent/100. */
static bool chance(double percent)
{
    return (double)(rnd() >> 11) / 9007199254740992.0 * 100.0 < percent;
}

#define PICK(arr) (arr[rnd_below(sizeof arr / sizeof arr[0])])

/* Weighted choice: weights sum to 100. */
static size_t pick_weighted(const int *weights, size_t n)
{
    int r = (int)rnd_below(100);
    for (size_t i = 0; i < n; i++) {
        if (r < weights[i])
            return i;
        r -= weights[i];
    }
    return n - 1;
}

/* ---- the vocabulary of a contact centre's work ---- */

static const char *const words[] = {
    "refund", "invoice", "billing", "payment", "card", "charge", "duplicate", "account",
    "password", "reset", "login", "access", "locked", "delivery", "parcel", "shipment", "late",
    "missing", "damaged", "return", "exchange", "warranty", "repair", "router", "modem",
    "printer", "laptop", "phone", "tablet", "screen", "battery", "charger", "cable", "network",
    "outage", "slow", "connection", "wifi", "fiber", "contract", "renewal", "upgrade",
    "downgrade", "cancel", "subscription", "plan", "roaming", "voicemail", "porting", "number",
    "address", "change", "update", "profile", "email", "verification", "identity", "fraud",
    "dispute", "chargeback", "complaint", "escalation", "callback", "follow", "survey",
    "feedback", "appointment", "technician", "visit", "installation", "setup", "activation",
    "sim", "esim", "balance", "statement", "tax", "receipt", "discount", "coupon", "voucher",
    "loyalty", "points", "order", "stock", "backorder", "quote", "pricing", "premium", "gold",
    "business", "home", "office", "store", "branch", "manager", "supervisor", "urgent",
    "review", "audit", "compliance", "privacy", "consent", "data", "export", "deletion",
    "report", "portal", "app", "crash", "error", "bug", "sync", "backup", "restore", "license",
    "key", "token", "device", "firmware", "patch", "security", "alert", "notice", "letter",
    "courier", "pickup", "label", "customs", "import", "overseas", "travel", "booking",
    "reservation", "seat", "baggage", "claim", "insurance", "policy", "coverage", "deductible",
    "mortgage", "loan", "credit", "limit", "overdraft", "transfer", "wire", "deposit", "cheque",
};

static const char *const tags[] = {
    "vip", "billing", "tech", "retention", "churn-risk", "escalated", "callback", "social",
    "repeat-caller", "outage", "fraud", "priority-customer", "new-customer", "b2b", "b2c",
    "warranty", "sla-gold", "sla-silver", "follow-up", "survey-sent", "legal", "language-de",
    "language-fr", "language-es", "mobile", "broadband", "tv", "energy", "insurance", "bank",
};

static const char *const sources[] = {"rtm", "email", "voice", "chat", "api", "web"};
static const char *const channels[] = {"rtm", "email", "voice", "chat", "whatsapp", "sms"};
static const char *const languages[] = {"en", "en", "en", "en", "de", "fr", "es"};
static const char *const regions[] = {"EMEA", "NA", "LATAM", "APAC"};
static const char *const queue_names[] = {"Billing", "Technical Support", "Sales",
                                          "Retention", "Returns", "Fraud", "Onboarding",
                                          "Escalations"};
static const char *const queue_ids[] = {"q-billing", "q-tech", "q-sales", "q-retention",
                                        "q-returns", "q-fraud", "q-onboarding", "q-escalations"};
static const char *const task_statuses[] = {"Open", "In-Progress", "On-Hold", "Resolved",
                                            "Closed"};
static const int task_status_weights[] = {30, 25, 10, 20, 15};
static const char *const priorities[] = {"Low", "Medium", "High", "Critical"};
static const int priority_weights[] = {30, 40, 20, 10};
/* Cases stay open: a closed case's tasks refuse updates (API.md §7), which would turn the update
 * benchmark into a 409 benchmark. */
static const char *const case_statuses[] = {"Open", "In-Progress"};

#define AGENTS 200

/* Appends 1 + n words (and, with probability percent, the search word) to buf. */
static void make_phrase(char *buf, size_t size, int n, const char *word, double percent)
{
    size_t used = 0;
    int at = chance(percent) ? (int)rnd_below((uint64_t)n + 1) : -1;
    for (int i = 0; i <= n; i++) {
        const char *w = i == at ? word : PICK(words);
        int k = snprintf(buf + used, size - used, "%s%s", used ? " " : "", w);
        if (k < 0 || (size_t)k >= size - used)
            break;
        used += (size_t)k;
    }
    if (used > 0)
        buf[0] = (char)(buf[0] >= 'a' && buf[0] <= 'z' ? buf[0] - 'a' + 'A' : buf[0]);
}

static json_t *user_info(uint64_t customer)
{
    char name[64], id[64], email[96];
    snprintf(name, sizeof name, "Customer %llu", (unsigned long long)customer);
    snprintf(id, sizeof id, "cu-%06llu", (unsigned long long)customer);
    snprintf(email, sizeof email, "customer%llu@example.com", (unsigned long long)customer);
    return json_pack("{s:s, s:s, s:s}", "name", name, "_id", id, "emailId", email);
}

/* A due date: 40 % past, 40 % future, 20 % none (-1). */
static int64_t due_date(int64_t now)
{
    uint64_t r = rnd_below(100);
    if (r < 40)
        return now - 3600000 - (int64_t)rnd_below(60 * DAY_MS);
    if (r < 80)
        return now + 3600000 + (int64_t)rnd_below(60 * DAY_MS);
    return -1;
}

/* ---- one stream's setup: app, configuration with a task template carrying custom fields ---- */

struct setup {
    const struct seed_opts *o;
    json_t *app;     /* in */
    json_t *config;  /* out: the stream's configuration (parsed) */
    int64_t case_ref, task_ref; /* out: the first CS and TS numbers */
    char why[600];
};

static int setup_txn(struct store_txn *t, void *arg)
{
    struct setup *s = arg;
    char *text = json_dumps(s->app, JSON_COMPACT);
    int rc = store_app_put(t, json_string_value(json_object_get(s->app, "clientId")),
                           s->o->account, text);
    free(text);
    if (rc != STORE_OK)
        return rc;
    char *existing = NULL;
    rc = store_stream_get(t, s->o->stream, &existing);
    if (rc == STORE_OK) {
        s->config = json_loads(existing, 0, NULL);
        free(existing);
        if (!s->config)
            return STORE_ERROR;
    } else if (rc == STORE_NOT_FOUND) {
        s->config = config_default(); /* API.md §4: a stream's first app seeds the defaults */
    } else {
        return rc;
    }
    if (!config_template(s->config, DOC_TASK, TASK_TMPL_ID)) {
        static const char *const fields[] = {"region:input", "amount:number"};
        struct err e;
        if (!config_add_template(s->config, DOC_TASK, TASK_TMPL_ID, "Bench Task", fields,
                                 sizeof fields / sizeof fields[0], &e)) {
            snprintf(s->why, sizeof s->why, "template: %s", e.msg);
            return STORE_ABORT;
        }
    }
    text = json_dumps(s->config, JSON_COMPACT);
    rc = store_stream_put(t, s->o->stream, text);
    free(text);
    if (rc == STORE_OK && s->o->cases > 0)
        rc = store_next_ref(t, s->o->stream, "CS", &s->case_ref);
    if (rc == STORE_OK && s->o->tasks > 0)
        rc = store_next_ref(t, s->o->stream, "TS", &s->task_ref);
    return rc;
}

/* ---- batches of built records and the thread that commits them ---- */

struct entry {
    struct store_record r;
    int64_t ref;
    bool bump; /* take the counter's next value in the transaction (not the setup's first) */
    long long case_index; /* tasks: which case they joined */
};

struct batch {
    const char *stream;
    const char *counter; /* "CS" or "TS" */
    struct entry *e;
    size_t n, cap;
    char why[256];
    int rc;
    int64_t txn_us; /* time inside the transaction callback (written by the writer thread) */
};

/* Adds doc's record to b; takes the reference to doc (it is released before returning). */
static void batch_add(struct batch *b, json_t *doc, enum doc_kind kind, int64_t ref, bool bump)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->e = xrealloc(b->e, b->cap * sizeof *b->e);
    }
    struct entry *e = &b->e[b->n++];
    e->ref = ref;
    e->bump = bump;
    doc_record_from(doc, kind, &e->r);
    doc_record_detach(&e->r); /* the document goes now, on this thread (doc_record_detach) */
    json_decref(doc);
}

static void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        doc_record_cleanup(&b->e[i].r);
    b->n = 0;
}

/* Runs on the store's writer thread: touches only the batch. */
static int put_batch_txn(struct store_txn *t, void *arg)
{
    struct batch *b = arg;
    int64_t t0 = time_mono_us();
    for (size_t i = 0; i < b->n; i++) {
        struct entry *e = &b->e[i];
        int rc;
        if (e->bump) {
            int64_t n = 0;
            rc = store_next_ref(t, b->stream, b->counter, &n);
            if (rc != STORE_OK)
                return rc;
            if (n != e->ref) {
                snprintf(b->why, sizeof b->why,
                         "the %s counter moved (%lld, expected %lld): another writer?",
                         b->counter, (long long)n, (long long)e->ref);
                return STORE_ABORT;
            }
        }
        rc = store_record_put(t, &e->r);
        if (rc != STORE_OK) {
            snprintf(b->why, sizeof b->why, "put %s: store status %d", e->r.id, rc);
            return rc;
        }
    }
    b->txn_us = time_mono_us() - t0;
    return STORE_OK;
}

static int64_t txn_total_us, commit_total_us; /* written by the one committing thread */

struct committer {
    struct store *store;
    pthread_t thread;
    bool running;
    struct batch *batch;
};

static void *commit_main(void *arg)
{
    struct committer *c = arg;
    int64_t t0 = time_mono_us();
    c->batch->rc = store_write(c->store, put_batch_txn, c->batch);
    txn_total_us += c->batch->txn_us;
    commit_total_us += time_mono_us() - t0 - c->batch->txn_us;
    return NULL;
}

/* Waits for the batch in flight; 0, or -1 after printing why it failed. */
static int64_t waited_us; /* main thread time spent waiting: for commits (cases), for builders
                           * (tasks) */

static int committer_wait(struct committer *c)
{
    if (!c->running)
        return 0;
    int64_t t0 = time_mono_us();
    pthread_join(c->thread, NULL);
    waited_us += time_mono_us() - t0;
    c->running = false;
    if (c->batch->rc != STORE_OK) {
        fprintf(stderr, "casemgr-seed: write failed (status %d)%s%s\n", c->batch->rc,
                c->batch->why[0] ? ": " : "", c->batch->why);
        return -1;
    }
    return 0;
}

/* Hands b to the committing thread (after the previous batch committed). */
static int committer_submit(struct committer *c, struct batch *b)
{
    if (committer_wait(c))
        return -1;
    b->why[0] = '\0';
    c->batch = b;
    if (pthread_create(&c->thread, NULL, commit_main, c) != 0) {
        fputs("casemgr-seed: cannot start a thread\n", stderr);
        return -1;
    }
    c->running = true;
    return 0;
}

/* ---- outputs for the load scripts ---- */

/* A uniform random sample of up to IDS_SAMPLE_MAX task ids (reservoir sampling). */
struct sample {
    char (*ids)[ID_MAX];
    size_t n;
    long long seen;
};

static void sample_add(struct sample *s, const char *id)
{
    size_t slot;
    if (s->n < IDS_SAMPLE_MAX) {
        slot = s->n++;
    } else {
        uint64_t r = rnd_below((uint64_t)s->seen + 1);
        if (r >= IDS_SAMPLE_MAX) {
            s->seen++;
            return;
        }
        slot = (size_t)r;
    }
    snprintf(s->ids[slot], ID_MAX, "%s", id);
    s->seen++;
}

static FILE *open_out(const char *path)
{
    if (!path)
        return NULL;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "casemgr-seed: cannot write %s\n", path);
    return f;
}

/* ---- the seeding itself ---- */

struct case_slot {
    json_t *doc;     /* kept until its taskIds are complete */
    json_t *task_ids;
};

struct seeder {
    const struct seed_opts *o;
    struct store *store;
    struct doc_ctx ctx;
    const char *case_tmpl, *task_tmpl; /* the stream's defaults */
    struct case_slot *cases;
    struct committer committer;
    struct batch batches[2];
    int cur;
    struct sample sample;
    FILE *json_out;
    long long json_count;
};

/* Sends the current batch and switches to the other buffer, freeing what it held. */
static int flush(struct seeder *sd)
{
    struct batch *b = &sd->batches[sd->cur];
    if (b->n == 0)
        return 0;
    if (committer_submit(&sd->committer, b))
        return -1;
    sd->cur ^= 1;
    batch_clear(&sd->batches[sd->cur]); /* committed: the submit above waited for it */
    return 0;
}

static json_t *case_body(struct seeder *sd)
{
    char name[160], desc[400];
    make_phrase(name, sizeof name, 3 + (int)rnd_below(3), sd->o->word, 1.0);
    make_phrase(desc, sizeof desc, 8 + (int)rnd_below(8), sd->o->word, 0);
    int64_t due = sd->ctx.now_ms + DAY_MS + (int64_t)rnd_below(90 * DAY_MS);
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:I, s:{s:s}, s:{s:s}, s:[s]}", "caseTmp",
                     sd->case_tmpl, "name", name, "desc", desc, "userInfo",
                     user_info(rnd_below(50000)), "source", PICK(sources), "dueDate",
                     (json_int_t)due, "priority", "name",
                     priorities[pick_weighted(priority_weights, 4)], "status", "name",
                     PICK(case_statuses), "channel", PICK(channels));
}

static json_t *task_body(struct seeder *sd, const json_t *case_doc, int64_t now)
{
    /* one task in ten uses the template with custom fields: each field is ~390 bytes of the
     * document, so giving them to every task would double its size */
    bool custom = chance(10);
    char name[200], desc[600];
    make_phrase(name, sizeof name, 3 + (int)rnd_below(4), sd->o->word, 1.0);
    make_phrase(desc, sizeof desc, 6 + (int)rnd_below(8), sd->o->word, 0);
    json_t *b = json_pack("{s:O, s:O, s:s, s:s, s:s, s:o, s:s, s:s, s:{s:s}, s:{s:s}}", "caseId",
                          json_object_get(case_doc, "_id"), "caseRefId",
                          json_object_get(case_doc, "refId"), "taskTmp",
                          custom ? TASK_TMPL_ID : sd->task_tmpl, "name",
                          name, "desc", desc, "userInfo", user_info(rnd_below(50000)), "source",
                          PICK(sources), "language", PICK(languages), "priority", "name",
                          priorities[pick_weighted(priority_weights, 4)], "status", "name",
                          task_statuses[pick_weighted(task_status_weights, 5)]);
    json_t *t = json_array();
    for (uint64_t i = 0, n = rnd_below(5); i < n; i++)
        json_array_append_new(t, json_string(PICK(tags)));
    json_object_set_new(b, "tags", t);
    /* assignees: 30 % nobody, 2 % the benchmark's own user (mytask), the rest 200 agents */
    uint64_t r = rnd_below(100);
    if (r >= 30) {
        char id[32], nm[32];
        if (r < 32) {
            snprintf(id, sizeof id, "%s", sd->o->user);
            snprintf(nm, sizeof nm, "Bench User");
        } else {
            uint64_t a = 1 + rnd_below(AGENTS);
            snprintf(id, sizeof id, "u-agent-%llu", (unsigned long long)a);
            snprintf(nm, sizeof nm, "Agent %llu", (unsigned long long)a);
        }
        json_object_set_new(b, "currAssignee", json_pack("{s:s, s:s}", "_id", id, "name", nm));
    }
    json_t *ch = json_array();
    json_array_append_new(ch, json_string(PICK(channels)));
    if (chance(20))
        json_array_append_new(ch, json_string(PICK(channels)));
    json_object_set_new(b, "channel", ch);
    json_t *q = json_array();
    size_t qi = rnd_below(sizeof queue_ids / sizeof queue_ids[0]);
    if (!chance(15))
        json_array_append_new(q, json_pack("{s:s, s:s}", "_id", queue_ids[qi], "name",
                                           queue_names[qi]));
    json_object_set_new(b, "queues", q);
    int64_t due = due_date(now);
    if (due >= 0)
        json_object_set_new(b, "dueDate", json_integer(due));
    if (custom) {
        json_t *f = json_array();
        json_array_append_new(f, json_pack("{s:s, s:s}", "name", "region", "selectedValue",
                                           PICK(regions)));
        if (chance(60))
            json_array_append_new(f, json_pack("{s:s, s:I}", "name", "amount", "selectedValue",
                                               (json_int_t)rnd_below(5000)));
        json_object_set_new(b, "fields", f);
    }
    return b;
}

static json_t *build_or_die(json_t *body, const json_t *case_doc, const struct doc_ctx *ctx)
{
    struct err e;
    json_t *doc = case_doc ? doc_create_task(body, case_doc, ctx, &e)
                           : doc_create_case(body, ctx, &e);
    if (!doc) {
        char *text = json_dumps(body, JSON_COMPACT);
        fprintf(stderr, "casemgr-seed: the document code refused a body (%s: %s): %s\n",
                e.field, e.msg, text ? text : "?");
        free(text);
        exit(1);
    }
    json_decref(body);
    return doc;
}

/* Spreads creation times over the past year, oldest first, so createdAt sorts mean something. */
static int64_t created_at(int64_t start, int64_t step, long long i)
{
    return start + step * (int64_t)i;
}

static int seed_cases(struct seeder *sd, int64_t first_ref, int64_t start, int64_t step)
{
    struct batch *b = &sd->batches[sd->cur];
    b->counter = "CS";
    FILE *f = open_out(sd->o->cases_out);
    if (sd->o->cases_out && !f)
        return -1;
    for (long long i = 0; i < sd->o->cases; i++) {
        sd->ctx.now_ms = created_at(start, step, i);
        json_t *doc = build_or_die(case_body(sd), NULL, &sd->ctx);
        doc_set_ref(doc, "CS", (long long)(first_ref + i));
        sd->cases[i].doc = json_incref(doc);
        sd->cases[i].task_ids = json_object_get(doc, "taskIds");
        batch_add(b, doc, DOC_CASE, first_ref + i, i > 0);
        if (f)
            fprintf(f, "%s %s\n", json_string_value(json_object_get(doc, "_id")),
                    json_string_value(json_object_get(doc, "refId")));
    }
    if (f && fclose(f) != 0) {
        fprintf(stderr, "casemgr-seed: cannot write %s\n", sd->o->cases_out);
        return -1;
    }
    if (flush(sd) || committer_wait(&sd->committer))
        return -1;
    return 0;
}

/* ---- tasks: builder threads fill batches, the main thread commits them in order ----
 * Batch i (tasks i*batch ..) is built by builder i % builders into slot i % slots; a slot is
 * reused once the batch before it there has been committed. Committing in order keeps the TS
 * counter check of put_batch_txn and makes each case's taskIds come out in refId order. */

struct task_slot {
    struct batch b;
    bool ready;
};

struct task_run {
    struct seeder *sd;
    int64_t first_ref, start, step;
    long long nbatches;
    struct task_slot *slots;
    long long nslots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long long committed; /* batches committed so far */
    bool stop;
};

struct builder {
    struct task_run *run;
    int k, n;
    uint64_t seed;
    pthread_t thread;
};

static void *builder_main(void *arg)
{
    struct builder *me = arg;
    struct task_run *run = me->run;
    struct seeder *sd = run->sd;
    rng_state = me->seed;
    struct doc_ctx ctx = sd->ctx;
    long long per = sd->o->batch;
    /* Linux: a thread id here makes this thread alone nicer; failing is harmless */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), BUILDER_NICE);
    for (long long i = me->k; i < run->nbatches; i += me->n) {
        struct task_slot *slot = &run->slots[i % run->nslots];
        pthread_mutex_lock(&run->mu);
        while (!run->stop && run->committed + run->nslots <= i)
            pthread_cond_wait(&run->cv, &run->mu);
        bool stop = run->stop;
        pthread_mutex_unlock(&run->mu);
        if (stop)
            break;
        struct batch *b = &slot->b;
        batch_clear(b); /* the slot's last batch, committed: freed by the thread that built it */
        b->counter = "TS";
        long long end = (i + 1) * per < sd->o->tasks ? (i + 1) * per : sd->o->tasks;
        for (long long j = i * per; j < end; j++) {
            ctx.now_ms = created_at(run->start, run->step, j);
            long long ci = (long long)rnd_below((uint64_t)sd->o->cases);
            const json_t *case_doc = sd->cases[ci].doc;
            json_t *doc = build_or_die(task_body(sd, case_doc, time_now_ms()), case_doc, &ctx);
            doc_set_ref(doc, "TS", (long long)(run->first_ref + j));
            batch_add(b, doc, DOC_TASK, run->first_ref + j, j > 0);
            b->e[b->n - 1].case_index = ci;
        }
        pthread_mutex_lock(&run->mu);
        slot->ready = true;
        pthread_cond_broadcast(&run->cv);
        pthread_mutex_unlock(&run->mu);
    }
    return NULL;
}

/* After batch b committed: the tasks join their cases, the id sample and the json-server file. */
static void tasks_committed(struct seeder *sd, struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct entry *e = &b->e[i];
        const char *id = e->r.id;
        json_array_append_new(sd->cases[e->case_index].task_ids, json_string(id));
        sample_add(&sd->sample, id);
        if (sd->json_out) {
            fputs(sd->json_count++ ? ",\n" : "", sd->json_out);
            fwrite(e->r.doc, 1, e->r.doc_len, sd->json_out);
        }
    }
}

static int seed_tasks(struct seeder *sd, int64_t first_ref, int64_t start, int64_t step)
{
    struct task_run run = {.sd = sd, .first_ref = first_ref, .start = start, .step = step};
    run.nbatches = (sd->o->tasks + sd->o->batch - 1) / sd->o->batch;
    int n = (int)sd->o->builders;
    run.nslots = 2 * n;
    run.slots = xcalloc((size_t)run.nslots, sizeof *run.slots);
    for (long long i = 0; i < run.nslots; i++)
        run.slots[i].b.stream = sd->o->stream;
    pthread_mutex_init(&run.mu, NULL);
    pthread_cond_init(&run.cv, NULL);
    struct builder builders[BUILDERS_MAX];
    int started = 0;
    for (; started < n; started++) {
        builders[started] = (struct builder){
            .run = &run, .k = started, .n = n,
            .seed = (rng_state ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(started + 1))) | 1};
        if (pthread_create(&builders[started].thread, NULL, builder_main, &builders[started])) {
            fputs("casemgr-seed: cannot start a builder thread\n", stderr);
            break;
        }
    }
    int status = started == n ? 0 : -1;
    for (long long i = 0; status == 0 && i < run.nbatches; i++) {
        struct task_slot *slot = &run.slots[i % run.nslots];
        int64_t t0 = time_mono_us();
        pthread_mutex_lock(&run.mu);
        while (!slot->ready)
            pthread_cond_wait(&run.cv, &run.mu);
        pthread_mutex_unlock(&run.mu);
        waited_us += time_mono_us() - t0;
        struct batch *b = &slot->b;
        b->why[0] = '\0';
        int64_t t1 = time_mono_us();
        b->rc = store_write(sd->store, put_batch_txn, b);
        txn_total_us += b->txn_us;
        commit_total_us += time_mono_us() - t1 - b->txn_us;
        if (b->rc != STORE_OK) {
            fprintf(stderr, "casemgr-seed: write failed (status %d)%s%s\n", b->rc,
                    b->why[0] ? ": " : "", b->why);
            status = -1;
            break;
        }
        tasks_committed(sd, b);
        pthread_mutex_lock(&run.mu);
        slot->ready = false;
        run.committed = i + 1;
        pthread_cond_broadcast(&run.cv);
        pthread_mutex_unlock(&run.mu);
    }
    pthread_mutex_lock(&run.mu);
    run.stop = true;
    pthread_cond_broadcast(&run.cv);
    pthread_mutex_unlock(&run.mu);
    for (int k = 0; k < started; k++)
        pthread_join(builders[k].thread, NULL);
    for (long long i = 0; i < run.nslots; i++) {
        batch_clear(&run.slots[i].b);
        free(run.slots[i].b.e);
    }
    free(run.slots);
    pthread_cond_destroy(&run.cv);
    pthread_mutex_destroy(&run.mu);
    return status;
}

/* Each case written once more, now with all its taskIds (API.md §6: a task joins its case). */
static int finish_cases(struct seeder *sd)
{
    size_t bytes = 0;
    for (long long i = 0; i < sd->o->cases; i++) {
        struct batch *b = &sd->batches[sd->cur];
        b->counter = "CS";
        batch_add(b, sd->cases[i].doc, DOC_CASE, 0, false);
        bytes += b->e[b->n - 1].r.doc_len;
        sd->cases[i].doc = NULL;
        if (bytes >= 16u << 20 && flush(sd))
            return -1;
        if (bytes >= 16u << 20)
            bytes = 0;
    }
    if (flush(sd) || committer_wait(&sd->committer))
        return -1;
    return 0;
}

static int write_outputs(struct seeder *sd)
{
    int rc = 0;
    FILE *f = open_out(sd->o->ids_out);
    if (sd->o->ids_out && !f)
        rc = -1;
    for (size_t i = 0; f && i < sd->sample.n; i++)
        fprintf(f, "%s\n", sd->sample.ids[i]);
    if (f && fclose(f) != 0)
        rc = -1;
    return rc;
}

static int usage(FILE *out, int rc)
{
    fputs("usage: casemgr-seed --db sqlite:PATH --stream st-... --account ACC --tasks N --cases M\n"
          "                    [--key-file PATH] [--org o-...] [--user u-bench-1] [--word WORD]\n"
          "                    [--ids-out FILE] [--cases-out FILE] [--json-out FILE]\n"
          "                    [--batch N] [--builders N] [--seed S]\n"
          "  --ids-out   a random sample of up to 100000 task ids, one a line\n"
          "  --cases-out every case as \"caseId refId\", one a line\n"
          "  --json-out  the tasks as a json-server database {\"tasks\": [...]}\n"
          "  --word      put in ~1% of task and case names (searchText benchmark)\n"
          "  --builders  threads building task documents (default: one per CPU)\n",
          out);
    return rc;
}

static int parse(int argc, char **argv, struct seed_opts *o)
{
    enum { O_DB = 256, O_KEY, O_STREAM, O_ACCOUNT, O_ORG, O_USER, O_WORD, O_TASKS, O_CASES,
           O_IDS, O_CASES_OUT, O_JSON, O_BATCH, O_SEED, O_BUILDERS, O_HELP };
    static const struct option longopts[] = {
        {"db", required_argument, NULL, O_DB},
        {"key-file", required_argument, NULL, O_KEY},
        {"stream", required_argument, NULL, O_STREAM},
        {"account", required_argument, NULL, O_ACCOUNT},
        {"org", required_argument, NULL, O_ORG},
        {"user", required_argument, NULL, O_USER},
        {"word", required_argument, NULL, O_WORD},
        {"tasks", required_argument, NULL, O_TASKS},
        {"cases", required_argument, NULL, O_CASES},
        {"ids-out", required_argument, NULL, O_IDS},
        {"cases-out", required_argument, NULL, O_CASES_OUT},
        {"json-out", required_argument, NULL, O_JSON},
        {"batch", required_argument, NULL, O_BATCH},
        {"builders", required_argument, NULL, O_BUILDERS},
        {"seed", required_argument, NULL, O_SEED},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (struct seed_opts){.org = "o-bench", .user = "u-bench-1", .word = "quokka",
                            .tasks = -1, .cases = -1, .batch = 1000, .seed = 1,
                            .builders = 0};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        long long *num = NULL;
        switch (c) {
        case O_DB: o->db = optarg; break;
        case O_KEY: o->key_file = optarg; break;
        case O_STREAM: o->stream = optarg; break;
        case O_ACCOUNT: o->account = optarg; break;
        case O_ORG: o->org = optarg; break;
        case O_USER: o->user = optarg; break;
        case O_WORD: o->word = optarg; break;
        case O_IDS: o->ids_out = optarg; break;
        case O_CASES_OUT: o->cases_out = optarg; break;
        case O_JSON: o->json_out = optarg; break;
        case O_TASKS: num = &o->tasks; break;
        case O_CASES: num = &o->cases; break;
        case O_BATCH: num = &o->batch; break;
        case O_BUILDERS: num = &o->builders; break;
        case O_SEED:
            o->seed = strtoull(optarg, &end, 10);
            if (*end)
                return -1;
            break;
        case 'h':
        case O_HELP: return 1; /* usage on stdout, exit 0, like casemgr's */
        default: return -1;
        }
        if (num) {
            *num = strtoll(optarg, &end, 10);
            if (*end || *num < 0)
                return -1;
        }
    }
    if (optind != argc || !o->stream || !o->account || o->tasks < 0 || o->cases < 0 ||
        o->batch < 1 || (o->tasks > 0 && o->cases == 0) || o->builders > BUILDERS_MAX)
        return -1;
    if (o->builders == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o->builders = cpus < 1 ? 1 : cpus > BUILDERS_MAX ? BUILDERS_MAX : cpus;
    }
    if (!id_valid_segment(o->stream, strlen(o->stream)) || strlen(o->user) > 24)
        return -1;
    return 0;
}

/* The search word must be findable only where the seed put it. */
static int check_word(const char *word)
{
    if (strlen(word) < 3 || strchr(word, ' '))
        return -1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(words[i], word) || strstr(word, words[i]))
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    json_set_alloc_funcs(xmalloc, free);
    struct seed_opts o;
    int parsed = parse(argc, argv, &o);
    if (parsed)
        return parsed > 0 ? usage(stdout, 0) : usage(stderr, 2);
    if (check_word(o.word)) {
        fprintf(stderr, "casemgr-seed: --word %s must be 3+ letters and no part of the word list\n",
                o.word);
        return 2;
    }
    rng_state ^= o.seed * 0x2545F4914F6CDD1DULL;
    int64_t t0 = time_mono_us(), index_us = 0;
    int status = 1;
    struct store *s = NULL;
    json_t *app = NULL, *streams = json_pack("[s]", o.stream),
           *scopes = json_pack("[s]", AUTH_SCOPE);
    struct setup su = {.o = &o};
    struct seeder sd = {.o = &o};

    const char *db = cli_db_url(o.db);
    char *key_path = cli_key_path(o.key_file, db);
    struct auth_keyring keys;
    char *err = NULL;
    if (auth_keyring_load(key_path, true, &keys, &err) != 0) {
        fprintf(stderr, "casemgr-seed: key file %s: %s\n", key_path, err ? err : "?");
        goto out;
    }
    /* Bulk loading: a 2xx means nothing here, and one fsync per batch is plenty. */
    struct store_options so = {.durability = STORE_DURABILITY_NORMAL};
    s = store_open(db, &so, &err);
    if (!s) {
        fprintf(stderr, "casemgr-seed: cannot open the database: %s\n", err ? err : "?");
        goto out;
    }
    char secret[AUTH_SECRET_LEN + 1];
    app = auth_app_new(&keys, o.account, o.org, "casemgr bench", streams, scopes, JWT_HS256,
                       false, secret);
    su.app = app;
    int rc = store_write(s, setup_txn, &su);
    if (rc != STORE_OK) {
        fprintf(stderr, "casemgr-seed: cannot set up the app and stream (status %d)%s%s\n", rc,
                su.why[0] ? ": " : "", su.why);
        goto out;
    }

    const json_t *ct = json_array_get(json_object_get(su.config, "caseTemplates"), 0);
    const json_t *tt = json_array_get(json_object_get(su.config, "taskTemplates"), 0);
    sd.store = s;
    sd.case_tmpl = json_string_value(json_object_get(ct, "_id"));
    sd.task_tmpl = json_string_value(json_object_get(tt, "_id"));
    sd.ctx = (struct doc_ctx){.stream_id = o.stream, .account_id = o.account, .org_id = o.org,
                              .config = su.config,
                              .actor = {.id = json_string_value(json_object_get(app, "clientId")),
                                        .name = "casemgr bench", .prof_image = ""}};
    sd.committer.store = s;
    sd.batches[0].stream = sd.batches[1].stream = o.stream;
    sd.cases = xcalloc((size_t)o.cases + 1, sizeof *sd.cases);
    sd.sample.ids = xmalloc(IDS_SAMPLE_MAX * sizeof *sd.sample.ids);
    sd.json_out = open_out(o.json_out);
    if (o.json_out && !sd.json_out)
        goto out;
    if (sd.json_out)
        fputs("{\"tasks\": [\n", sd.json_out);

    int64_t now = time_now_ms();
    int64_t span = 365 * DAY_MS;
    int64_t step = o.tasks > 0 ? span / o.tasks : 1;
    if (step < 1)
        step = 1;
    if (store_bulk_begin(s) != STORE_OK) {
        fprintf(stderr, "casemgr-seed: cannot prepare the database for bulk loading\n");
        goto out;
    }
    if (seed_cases(&sd, su.case_ref, now - span - DAY_MS, DAY_MS / (o.cases + 1)) ||
        seed_tasks(&sd, su.task_ref, now - span, step) || finish_cases(&sd))
        goto out;
    int64_t t_index = time_mono_us();
    if (store_bulk_end(s) != STORE_OK) {
        fprintf(stderr, "casemgr-seed: cannot rebuild the indexes after loading\n");
        goto out;
    }
    index_us = time_mono_us() - t_index;
    if (sd.json_out) {
        fputs("\n]}\n", sd.json_out);
        int bad = fclose(sd.json_out) != 0;
        sd.json_out = NULL;
        if (bad) {
            fprintf(stderr, "casemgr-seed: cannot write %s\n", o.json_out);
            goto out;
        }
    }
    if (write_outputs(&sd))
        goto out;
    double secs = (double)(time_mono_us() - t0) / 1e6;
    json_t *shown = json_pack(
        "{s:O, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f}",
        "clientId", json_object_get(app, "clientId"), "clientSecret", secret, "accountId",
        json_object_get(app, "accountId"), "streams", streams, "scopes", scopes, "orgId",
        json_object_get(app, "orgId"), "name", json_object_get(app, "name"), "alg",
        json_object_get(app, "alg"), "enforceJti", json_object_get(app, "enforceJti"), "stream",
        o.stream, "caseTmp", sd.case_tmpl, "taskTmp", sd.task_tmpl, "customTaskTmp", TASK_TMPL_ID, "user", o.user,
        "searchWord", o.word, "tasks", (json_int_t)o.tasks, "cases", (json_int_t)o.cases,
        "seconds", secs);
    char *text = json_dumps(shown, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(text);
    free(text);
    json_decref(shown);
    /* where the time went: the main thread builds documents while the writer stores them */
    fprintf(stderr,
            "casemgr-seed: the main thread waited %.1f s (for the store, for builders); in "
            "transactions %.1f s, "
            "committing %.1f s; indexes built after loading in %.1f s\n",
            (double)waited_us / 1e6, (double)txn_total_us / 1e6, (double)commit_total_us / 1e6,
            (double)index_us / 1e6);
    fprintf(stderr, "casemgr-seed: %lld tasks, %lld cases in %.1f s (%.0f tasks/s)\n", o.tasks,
            o.cases, secs, secs > 0 ? (double)o.tasks / secs : 0.0);
    status = 0;
out:
    committer_wait(&sd.committer);
    batch_clear(&sd.batches[0]);
    batch_clear(&sd.batches[1]);
    free(sd.batches[0].e);
    free(sd.batches[1].e);
    if (sd.json_out)
        fclose(sd.json_out);
    for (long long i = 0; sd.cases && i < o.cases; i++)
        json_decref(sd.cases[i].doc);
    free(sd.cases);
    free(sd.sample.ids);
    json_decref(su.config);
    json_decref(app);
    json_decref(streams);
    json_decref(scopes);
    store_close(s);
    free(err);
    free(key_path);
    return status;
}
