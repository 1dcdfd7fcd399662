/* reply — reply helpers; the error envelope of API.md §10 from the catalogue in util/error. */
#include "http/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jtext.h"
#include "util/mem.h"


const char *http_header(const struct http_request *r, const char *name)
{
    return r->header_fn ? r->header_fn(r->header_ctx, name) : NULL;
}

const char *http_header_list(const struct http_request *r, const char *name)
{
    return r->header_list_fn ? r->header_list_fn(r->header_ctx, name) : http_header(r, name);
}

unsigned http_header_count(const struct http_request *r, const char *name)
{
    return r->header_count_fn ? r->header_count_fn(r->header_ctx, name) : 0;
}

bool http_can_defer(const struct http_request *r)
{
    return r->answer_fn != NULL;
}

bool http_can_wait(const struct http_request *r)
{
    return !r->on_io;
}

void http_run_on_worker(struct http_request *r)
{
    r->to_worker = true;
}

void http_defer(struct http_request *r,
                void (*finish)(struct http_request *r, struct http_reply *rep, void *arg),
                void *arg)
{
    r->deferred = true;
    r->finish_fn = finish;
    r->finish_arg = arg;
}

void http_finish(struct http_request *r, struct http_reply *rep)
{
    if (r->finish_fn)
        r->finish_fn(r, rep, r->finish_arg);
    r->finish_fn = NULL;
}

void http_answer(struct http_request *r)
{
    r->answer_fn(r);
}


void http_reply_cleanup(struct http_reply *rep)
{
    free(rep->body);
    rep->body = NULL;
    rep->body_len = 0;
}

void http_reply_json_text(struct http_reply *rep, unsigned status, char *body, size_t len)
{
    http_reply_cleanup(rep);
    rep->status = status;
    rep->body = body;
    rep->body_len = len;
    rep->content_type = "application/json; charset=utf-8";
}

void http_reply_json(struct http_reply *rep, unsigned status, json_t *doc)
{
    size_t len = 0;
    char *text = jtext_dump(doc, &len);
    json_decref(doc);
    if (!text) /* documents are built from parsed, valid UTF-8 */
        mem_oom();
    http_reply_json_text(rep, status, text, len);
}

void http_reply_text(struct http_reply *rep, unsigned status, const char *content_type,
                     const char *text, size_t len)
{
    http_reply_cleanup(rep);
    rep->status = status;
    rep->body = xstrndup(text, len);
    rep->body_len = len;
    rep->content_type = content_type;
}

void http_reply_error(struct http_reply *rep, enum err_code err, const char *field,
                      const char *fmt, ...)
{
    char msg[1024];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    } else {
        snprintf(msg, sizeof msg, "%s", err_message(err));
    }
    json_t *e = json_object();
    json_t *m = json_string(msg); /* NULL if truncation split a UTF-8 sequence */
    json_object_set_new(e, "msg", m ? m : json_string(err_message(err)));
    json_object_set_new(e, "code", json_integer(err_status(err)));
    json_object_set_new(e, "reason", json_string(err_reason(err)));
    if (field)
        json_object_set_new(e, "field", json_string(field)); /* absent if not UTF-8 */
    json_t *doc = json_object();
    json_t *errors = json_array();
    json_array_append_new(errors, e);
    json_object_set_new(doc, "errors", errors);
    http_reply_json(rep, err_status(err), doc);
    rep->etag[0] = '\0';
}

void http_reply_err(struct http_reply *rep, const struct err *e)
{
    http_reply_error(rep, e->code, e->field[0] ? e->field : NULL, "%s",
                     e->msg[0] ? e->msg : err_message(e->code));
}
