/* fixture — see fixture.h. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/config.h"
#include "doc/create.h"
#include "http/http.h"

static struct fuzz_fixture fx;

static void die(const char *what, const struct err *e)
{
    fprintf(stderr, "fuzz fixture: %s: %s (%s)\n", what, e ? e->msg : "", e ? e->field : "");
    abort();
}

static void add_templates(json_t *cfg)
{
    static const char *const case_fields[] = {"severity:input", "notes:textarea",
                                              "seenAt:datetime", "count:number", "vip:checkbox"};
    static const char *const req_fields[] = {"ticket:input:required", "count:number"};
    static const char *const task_fields[] = {"step:input", "doneAt:datetime", "ok:checkbox"};
    struct err e;
    if (!config_add_template(cfg, DOC_CASE, FUZZ_CASE_TMP, "Fuzz Case", case_fields, 5, &e) ||
        !config_add_template(cfg, DOC_CASE, FUZZ_CASE_TMP_REQ, "Fuzz Required", req_fields, 2,
                             &e) ||
        !config_add_template(cfg, DOC_TASK, FUZZ_TASK_TMP, "Fuzz Task", task_fields, 3, &e))
        die("config_add_template", &e);
    if (!config_add_status(cfg, "Archived", "closed", false, &e) ||
        !config_add_priority(cfg, "Ignored", 1, "#000000", false, &e))
        die("config_add_status/priority", &e);
}

json_t *fuzz_create(enum doc_kind kind, const char *body_json, long long ref)
{
    json_error_t je;
    json_t *body = json_loads(body_json, 0, &je);
    if (!body) {
        fprintf(stderr, "fuzz fixture: bad JSON %s: %s\n", body_json, je.text);
        abort();
    }
    struct err e;
    json_t *doc = kind == DOC_CASE ? doc_create_case(body, &fx.ctx, &e)
                                   : doc_create_task(body, fx.case_doc, &fx.ctx, &e);
    json_decref(body);
    if (!doc)
        die(body_json, &e);
    doc_set_ref(doc, kind == DOC_CASE ? "CS" : "TS", ref);
    return doc;
}

void fuzz_check_refusal(const struct err *e)
{
    struct http_reply rep;
    memset(&rep, 0, sizeof rep);
    http_reply_err(&rep, e);
    json_t *doc = rep.body ? json_loadb(rep.body, rep.body_len, 0, NULL) : NULL;
    const json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
    if (rep.status < 400 || rep.status > 499 || !json_is_string(json_object_get(first, "msg")) ||
        json_integer_value(json_object_get(first, "code")) != (json_int_t)rep.status) {
        fprintf(stderr, "fuzz fixture: a refusal's reply is not the error envelope: %u %.*s\n",
                rep.status, (int)rep.body_len, rep.body ? rep.body : "");
        abort();
    }
    json_decref(doc);
    http_reply_cleanup(&rep);
}

const struct fuzz_fixture *fuzz_fixture(void)
{
    if (fx.config)
        return &fx;
    fx.config = config_default();
    add_templates(fx.config);
    fx.ctx = (struct doc_ctx){
        .stream_id = FUZZ_STREAM,
        .account_id = FUZZ_ACCOUNT,
        .org_id = "o-fuzz",
        .config = fx.config,
        .actor = {.id = "u-fuzz", .name = "Fuzz Agent", .prof_image = ""},
        .now_ms = FUZZ_NOW_MS,
    };
    fx.case_doc = fuzz_create(DOC_CASE,
                              "{\"caseTmp\":\"" FUZZ_CASE_TMP "\",\"name\":\"Printer Broken\","
                              "\"desc\":\"It jams\",\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-1\"},"
                              "\"source\":\"email\",\"dueDate\":1749118680725,"
                              "\"channel\":[\"email\"],\"queues\":[{\"_id\":\"q-1\",\"name\":\"L1\"}],"
                              "\"currAssignee\":{\"_id\":\"u-agent-7\",\"name\":\"Seven\"},"
                              "\"tags\":[\"printer\"]}",
                              1);
    json_object_set_new(fx.case_doc, "_id", json_string(FUZZ_CASE_ID));
    char body[512];
    snprintf(body, sizeof body,
             "{\"caseId\":\"%s\",\"caseRefId\":\"CS000001\",\"taskTmp\":\"" FUZZ_TASK_TMP "\","
             "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-1\"},"
             "\"source\":\"email\",\"name\":\"Call back\"}",
             json_string_value(json_object_get(fx.case_doc, "_id")));
    fx.task_doc = fuzz_create(DOC_TASK, body, 1);
    json_object_set_new(fx.task_doc, "_id", json_string(FUZZ_TASK_ID));
    return &fx;
}
