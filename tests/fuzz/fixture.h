/* fixture — what the doc and query harnesses share: a stream configuration with fixed template
 * ids (so fuzzed create bodies can name them), a write context with a fixed clock, and a stored
 * case and task built the way the server builds them (doc_create_case/doc_create_task). */
#ifndef CASEMGR_FUZZ_FIXTURE_H
#define CASEMGR_FUZZ_FIXTURE_H

#include <jansson.h>

#include "doc/apply.h"
#include "util/error.h"

#define FUZZ_STREAM "st-fuzz-0001"
#define FUZZ_ACCOUNT "acc-fuzz"
#define FUZZ_CASE_TMP "ctm-fuzz"      /* case template: optional custom fields */
#define FUZZ_CASE_TMP_REQ "ctm-fuzz-req" /* case template with a required field */
#define FUZZ_TASK_TMP "ttm-fuzz"
#define FUZZ_NOW_MS 1749032280725LL /* 2025-06-04T10:18:00.725Z */
/* Fixed ids of the stored case and task (the server draws random ones), so that inputs can name
 * them: a createTask body's caseId, read-only echoes of _id, getTasks's caseId filter. */
#define FUZZ_CASE_ID "ci-fuzz000-0000-4000-8000-000000000001"
#define FUZZ_TASK_ID "ti-fuzz000-0000-4000-8000-000000000001"

struct fuzz_fixture {
    json_t *config;   /* the stream's configuration */
    struct doc_ctx ctx;
    json_t *case_doc; /* a stored case (refId CS000001) */
    json_t *task_doc; /* a stored task of case_doc (refId TS000001) */
};

/* Builds the fixture once (aborts on failure: the harness would test nothing); borrowed. */
const struct fuzz_fixture *fuzz_fixture(void);
/* A create body (JSON text) that doc_create_case/doc_create_task accept; aborts when it does
 * not. The returned document is the caller's (decref). */
json_t *fuzz_create(enum doc_kind kind, const char *body_json, long long ref);
/* Answers e as a handler does (http_reply_err) and aborts unless the reply is the error envelope
 * of API.md §10: valid JSON, a 4xx status, and errors[0] with a msg and that code. */
void fuzz_check_refusal(const struct err *e);

#endif
