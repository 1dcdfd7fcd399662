#include "ops/accesslog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/text.h"
#include "util/time.h"

static atomic_bool enabled = true;

/* Lines wait in pending for the writer thread, which swaps it for its own empty buffer and
 * writes outside the lock. A request's thread never blocks on stdout: with --access-log on, a
 * reader of stdout that stopped (a full pipe, a stalled log collector) held each I/O thread in
 * write(2) and froze the server. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    char *pending, *spare;
    size_t len;
    unsigned long long dropped;
    bool running, stopping, done;
    pthread_t thread;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER,
       .done_cv = PTHREAD_COND_INITIALIZER};

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* stdout closed: nothing else to do with the log */
        p += w;
        n -= (size_t)w;
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&q.mu);
    for (;;) {
        while (q.len == 0 && q.dropped == 0 && !q.stopping)
            pthread_cond_wait(&q.cv, &q.mu);
        if (q.len == 0 && q.dropped == 0 && q.stopping)
            break;
        char *buf = q.pending;
        size_t len = q.len;
        unsigned long long dropped = q.dropped;
        q.pending = q.spare;
        q.spare = NULL;
        q.len = 0;
        q.dropped = 0;
        pthread_mutex_unlock(&q.mu);
        write_all(buf, len);
        if (dropped)
            log_error("access log: %llu line%s dropped: stdout was not read fast enough", dropped,
                      dropped == 1 ? "" : "s");
        pthread_mutex_lock(&q.mu);
        q.spare = buf;
    }
    q.done = true;
    pthread_cond_broadcast(&q.done_cv);
    pthread_mutex_unlock(&q.mu);
    return NULL;
}

void accesslog_start(void)
{
    pthread_mutex_lock(&q.mu);
    if (!q.running) {
        q.pending = xmalloc(ACCESSLOG_QUEUE_BYTES);
        q.spare = xmalloc(ACCESSLOG_QUEUE_BYTES);
        q.running = pthread_create(&q.thread, NULL, writer_main, NULL) == 0;
        if (q.running)
            pthread_setname_np(q.thread, "cm-accesslog");
    }
    pthread_mutex_unlock(&q.mu);
}

bool accesslog_stop(int timeout_ms)
{
    pthread_mutex_lock(&q.mu);
    if (!q.running) {
        pthread_mutex_unlock(&q.mu);
        return true;
    }
    q.stopping = true;
    pthread_cond_signal(&q.cv);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (!q.done && pthread_cond_timedwait(&q.done_cv, &q.mu, &deadline) != ETIMEDOUT)
        ;
    if (!q.done) {
        /* its write(2) still waits on stdout: the process ends without it (a stop that joined
         * it waited as long as stdout was not read, past --drain-timeout) */
        size_t left = q.len;
        pthread_mutex_unlock(&q.mu);
        log_error("access log: stdout is not being read; %zu bytes of lines not written", left);
        return false;
    }
    pthread_mutex_unlock(&q.mu);
    pthread_join(q.thread, NULL);
    pthread_mutex_lock(&q.mu);
    q.running = q.stopping = q.done = false;
    free(q.pending);
    free(q.spare);
    q.pending = q.spare = NULL;
    pthread_mutex_unlock(&q.mu);
    return true;
}

static void emit(const char *line, size_t len)
{
    pthread_mutex_lock(&q.mu);
    if (!q.running) {
        pthread_mutex_unlock(&q.mu);
        write_all(line, len);
        return;
    }
    /* the writer holds the other buffer while it writes: pending alone takes lines meanwhile */
    if (!q.pending || q.len + len > ACCESSLOG_QUEUE_BYTES) {
        q.dropped++;
    } else {
        memcpy(q.pending + q.len, line, len);
        q.len += len;
    }
    pthread_cond_signal(&q.cv);
    pthread_mutex_unlock(&q.mu);
}

void accesslog_enable(bool on)
{
    atomic_store(&enabled, on);
}

/* Each text field's share of the line, in bytes of its escaped JSON text. The path is the one
 * a client can make long (16 KiB by default, six bytes a byte once escaped); the others are
 * checked or short, but a method is any token. Together with the names, the numbers and the
 * markers they fit the line, so no field is ever dropped: one that does not fit is cut and
 * "<name>Truncated":true says so. */
#define LINE_MAX_BYTES 2048
#define REQUEST_ID_SHARE 256
#define METHOD_SHARE 64
#define PATH_SHARE 1024
#define CLIENT_ID_SHARE 128
#define STREAM_ID_SHARE 256
/* {"time":"<24>" (34), each of the five fields at most 23 bytes of punctuation and its name
 * twice (35 letters in all), the three numbers with their names (79) and }\n */
_Static_assert(34 + 5 * 23 + 2 * 35 + REQUEST_ID_SHARE + METHOD_SHARE + PATH_SHARE +
                       CLIENT_ID_SHARE + STREAM_ID_SHARE + 79 + 2 <=
                   LINE_MAX_BYTES,
               "the access-log fields' shares do not fit a line");

/* Appends the n bytes of s as JSON string content, at most max bytes of it, so the line is
 * valid JSON whatever a client put in the path: control characters become \u00XX, valid UTF-8
 * stays as it is, and a byte that is not UTF-8 becomes the text \xHH (\\xHH in JSON). Each
 * such byte was \u00XX, which a reader takes for the Latin-1 letter: /caf%C3%A9 read /cafÃ©.
 * Returns the new length; *cut when s did not fit whole. */
static size_t put_escaped(char *buf, size_t len, size_t max, const char *s, size_t n, bool *cut)
{
    static const char hex[] = "0123456789abcdef";
    size_t end = len + max;
    *cut = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t seq = c >= 0x80 ? text_utf8_decode((const unsigned char *)s + i, n - i, &cp) : 0;
        size_t need = seq      ? seq
                      : c >= 0x80 ? 5
                      : c == '"' || c == '\\' ? 2
                      : c < 0x20 || c == 0x7f ? 6
                                              : 1;
        if (len + need > end) {
            *cut = true;
            break;
        }
        if (seq) {
            memcpy(buf + len, s + i, seq);
            len += seq;
            i += seq - 1;
        } else if (need == 5) {
            buf[len++] = '\\';
            buf[len++] = '\\';
            buf[len++] = 'x';
            buf[len++] = hex[c >> 4];
            buf[len++] = hex[c & 15];
        } else if (need == 2) {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (need == 6) {
            buf[len++] = '\\';
            buf[len++] = 'u';
            buf[len++] = '0';
            buf[len++] = '0';
            buf[len++] = hex[c >> 4];
            buf[len++] = hex[c & 15];
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

/* Appends a literal of ours (its room is counted in the shares above); the line is no C string. */
static size_t put_text(char *buf, size_t len, const char *text)
{
    while (*text)
        buf[len++] = *text++;
    return len;
}

/* ,"name":"value" with at most share bytes of value, then ,"nameTruncated":true if it was cut. */
static size_t put_field(char *buf, size_t len, const char *name, const char *value, size_t n,
                        size_t share)
{
    bool cut;
    len = put_text(buf, len, ",\"");
    len = put_text(buf, len, name);
    len = put_text(buf, len, "\":\"");
    len = put_escaped(buf, len, share, value ? value : "", value ? n : 0, &cut);
    buf[len++] = '"';
    if (cut) {
        len = put_text(buf, len, ",\"");
        len = put_text(buf, len, name);
        len = put_text(buf, len, "Truncated\":true");
    }
    return len;
}

static size_t put_string_field(char *buf, size_t len, const char *name, const char *value,
                               size_t share)
{
    return put_field(buf, len, name, value, value ? strlen(value) : 0, share);
}

void accesslog_write(const struct http_request *req, unsigned status, size_t bytes,
                     int64_t micros)
{
    if (!atomic_load(&enabled))
        return;
    char line[LINE_MAX_BYTES];
    char now[TIME_ISO_LEN];
    time_format_iso(time_now_ms(), now);
    size_t len = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\"", now);
    len = put_string_field(line, len, "requestId", req->request_id, REQUEST_ID_SHARE);
    len = put_string_field(line, len, "method", req->method, METHOD_SHARE);
    /* the path only: a query string could carry anything */
    const char *path = req->path ? req->path : "";
    /* the whole path: MHD hands it over without its query string, so a '?' in it is a decoded
     * %3F, and cutting there logged "/healthz%3Fx" as a 404 of /healthz */
    len = put_field(line, len, "path", path, strlen(path), PATH_SHARE);
    int n = snprintf(line + len, sizeof line - len, ",\"status\":%u,\"bytes\":%zu,\"micros\":%lld",
                     status, bytes, (long long)micros);
    if (n > 0 && (size_t)n < sizeof line - len)
        len += (size_t)n;
    len = put_string_field(line, len, "clientId", req->client_id, CLIENT_ID_SHARE);
    len = put_string_field(line, len, "streamId", req->stream_id, STREAM_ID_SHARE);
    line[len++] = '}';
    line[len++] = '\n';
    emit(line, len);
}
