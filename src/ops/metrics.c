#include "ops/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "util/mem.h"

#define MAX_SERIES 256

static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof bucket_le / sizeof bucket_le[0])

static struct {
    pthread_mutex_t mu;
    struct {
        const char *route; /* static strings from the route table */
        unsigned status;
        uint64_t count;
    } series[MAX_SERIES];
    size_t nseries;
    uint64_t buckets[NBUCKETS + 1]; /* last: +Inf */
    uint64_t count;
    uint64_t sum_us;
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

static atomic_uint_fast64_t db_errors;
static atomic_uint_fast64_t list_reruns;

void metrics_db_error(void)
{
    atomic_fetch_add(&db_errors, 1);
}

void metrics_list_rerun(void)
{
    atomic_fetch_add(&list_reruns, 1);
}

void metrics_request(const char *route, unsigned status, int64_t micros)
{
    if (!route)
        route = "unmatched";
    double secs = (double)micros / 1e6;
    pthread_mutex_lock(&m.mu);
    size_t i = 0;
    while (i < m.nseries && !(m.series[i].status == status && strcmp(m.series[i].route, route) == 0))
        i++;
    if (i == m.nseries && m.nseries < MAX_SERIES) {
        m.series[i].route = route;
        m.series[i].status = status;
        m.nseries++;
    }
    if (i < m.nseries)
        m.series[i].count++;
    size_t b = 0;
    while (b < NBUCKETS && secs > bucket_le[b])
        b++;
    m.buckets[b]++;
    m.count++;
    m.sum_us += micros > 0 ? (uint64_t)micros : 0;
    pthread_mutex_unlock(&m.mu);
}

struct out {
    char *buf;
    size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap * 2 + (size_t)(n > 0 ? n : 0);
        o->buf = xrealloc(o->buf, o->cap);
    }
}

char *metrics_render(size_t *len)
{
    struct out o = {.buf = xmalloc(4096), .cap = 4096};
    pthread_mutex_lock(&m.mu);
    put(&o, "# HELP casemgr_requests_total Requests answered, by endpoint and status.\n"
            "# TYPE casemgr_requests_total counter\n");
    for (size_t i = 0; i < m.nseries; i++)
        put(&o, "casemgr_requests_total{endpoint=\"%s\",status=\"%u\"} %llu\n", m.series[i].route,
            m.series[i].status, (unsigned long long)m.series[i].count);
    put(&o, "# HELP casemgr_request_duration_seconds Time from request headers to reply.\n"
            "# TYPE casemgr_request_duration_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
        cumulative += m.buckets[b];
        put(&o, "casemgr_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[b],
            (unsigned long long)cumulative);
    }
    cumulative += m.buckets[NBUCKETS];
    put(&o, "casemgr_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)cumulative);
    put(&o, "casemgr_request_duration_seconds_sum %.6f\n", (double)m.sum_us / 1e6);
    put(&o, "casemgr_request_duration_seconds_count %llu\n", (unsigned long long)m.count);
    pthread_mutex_unlock(&m.mu);
    put(&o, "# HELP casemgr_db_errors_total Database operations that failed.\n"
            "# TYPE casemgr_db_errors_total counter\n"
            "casemgr_db_errors_total %llu\n",
        (unsigned long long)atomic_load(&db_errors));
    put(&o, "# HELP casemgr_list_reruns_total Lists stopped on an I/O thread past their deadline"
            " and run again on a worker.\n"
            "# TYPE casemgr_list_reruns_total counter\n"
            "casemgr_list_reruns_total %llu\n",
        (unsigned long long)atomic_load(&list_reruns));
    put(&o, "# HELP casemgr_open_connections HTTP connections open now.\n"
            "# TYPE casemgr_open_connections gauge\n"
            "casemgr_open_connections %u\n",
        http_open_connections());
    *len = o.len;
    return o.buf;
}

void metrics_handler(struct http_request *req, struct http_reply *rep)
{
    (void)req;
    size_t len;
    char *text = metrics_render(&len);
    http_reply_cleanup(rep);
    rep->status = 200;
    rep->body = text;
    rep->body_len = len;
    rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
