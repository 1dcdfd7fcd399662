/* Unit tests for http/router: the route table of API.md §1 and the id-segment rule of §3
 * (anything but 1..128 bytes of [A-Za-z0-9._-] in a {} segment is 404). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "http/router.h"
#include "util/mem.h"

#define BASE "/caseManagement/api/public/analytics/"

static void handle_create_case(struct http_request *req, struct http_reply *rep)
{
    (void)req;
    (void)rep;
}

static void handle_update_task(struct http_request *req, struct http_reply *rep)
{
    (void)req;
    (void)rep;
}

static void handle_other(struct http_request *req, struct http_reply *rep)
{
    (void)req;
    (void)rep;
}

static const struct http_route routes[] = {
    {"POST", BASE "{}/createCase", "createCase", handle_create_case, true, false, false, false},
    {"POST", BASE "{}/getCases", "getCases", handle_other, true, false, false, false},
    {"POST", BASE "{}/updateCase/{}", "updateCase", handle_other, true, false, false, false},
    {"POST", BASE "{}/createTask", "createTask", handle_other, true, false, false, false},
    {"POST", BASE "{}/getTasks", "getTasks", handle_other, true, false, false, false},
    {"POST", BASE "{}/updateTask/{}", "updateTask", handle_update_task, true, false, false, false},
    {"GET", "/healthz", "healthz", handle_other, false, false, false, false},
    {"GET", "/readyz", "readyz", handle_other, false, false, false, false},
    {"GET", "/metrics", "metrics", handle_other, false, false, false, false},
    {NULL, "/any/{}", "any", handle_other, false, false, false, false},
    {"GET", "/twice", "twice-get", handle_other, false, false, false, false},
    {"DELETE", "/twice", "twice-delete", handle_other, false, false, false, false},
};
#define NROUTES (sizeof routes / sizeof routes[0])

struct match {
    enum http_match result;
    const struct http_route *route;
    struct http_request req;
    char *scratch;
};

/* Matches with a scratch buffer of exactly strlen(path)+1 bytes (the documented need), so ASan
 * reports any write past it. Call match_free afterwards. */
static struct match *match(const char *method, const char *path)
{
    struct match *m = xcalloc(1, sizeof *m);
    m->scratch = xmalloc(strlen(path) + 1);
    m->req.params[0] = "stale0";
    m->req.params[1] = "stale1";
    m->result = http_route_match(routes, NROUTES, method, path, &m->req, m->scratch, &m->route);
    return m;
}

static void match_free(struct match *m)
{
    free(m->scratch);
    free(m);
}

static void expect_result(const char *method, const char *path, enum http_match want)
{
    struct match *m = match(method, path);
    cr_assert_eq(m->result, want, "%s %s: got %d, want %d", method, path, m->result, want);
    match_free(m);
}

static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

Test(http_router, update_task_captures_stream_and_task)
{
    struct match *m =
        match("POST", BASE "st-1234/updateTask/ti-73acd32-0123-4114-9891-00a950aa12f3");
    cr_assert_eq(m->result, HTTP_MATCH_OK);
    cr_assert_eq(m->route, &routes[5]);
    cr_assert_str_eq(m->route->name, "updateTask");
    cr_assert_eq(m->route->handler, handle_update_task);
    cr_assert_str_eq(m->req.params[0], "st-1234");
    cr_assert_str_eq(m->req.params[1], "ti-73acd32-0123-4114-9891-00a950aa12f3");
    match_free(m);
}

Test(http_router, one_param_route_clears_the_second)
{
    struct match *m = match("POST", BASE "st-9/createCase");
    cr_assert_eq(m->result, HTTP_MATCH_OK);
    cr_assert_eq(m->route->handler, handle_create_case);
    cr_assert_str_eq(m->req.params[0], "st-9");
    cr_assert_null(m->req.params[1]);
    match_free(m);
}

Test(http_router, every_api_route_matches_post)
{
    static const struct {
        const char *path;
        const char *name;
    } cases[] = {
        {BASE "st-1/createCase", "createCase"},      {BASE "st-1/getCases", "getCases"},
        {BASE "st-1/updateCase/ci-1", "updateCase"}, {BASE "st-1/createTask", "createTask"},
        {BASE "st-1/getTasks", "getTasks"},          {BASE "st-1/updateTask/ti-1", "updateTask"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct match *m = match("POST", cases[i].path);
        cr_assert_eq(m->result, HTTP_MATCH_OK, "%s", cases[i].path);
        cr_assert_str_eq(m->route->name, cases[i].name);
        match_free(m);
    }
}

Test(http_router, other_method_on_api_path_is_method)
{
    static const char *const methods[] = {"GET",  "PUT",     "PATCH", "DELETE",
                                          "HEAD", "OPTIONS", "post",  ""};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        expect_result(methods[i], BASE "st-1/updateTask/ti-1", HTTP_MATCH_METHOD);
        expect_result(methods[i], BASE "st-1/getCases", HTTP_MATCH_METHOD);
    }
    expect_result("POST", "/healthz", HTTP_MATCH_METHOD);
}

Test(http_router, method_mismatch_names_the_route_for_allow)
{
    /* router.h: on METHOD, *route is the route whose path matched (its method goes in Allow). */
    struct match *m = match("GET", BASE "st-1/updateTask/ti-1");
    cr_assert_eq(m->result, HTTP_MATCH_METHOD);
    cr_assert_eq(m->route, &routes[5]);
    cr_assert_str_eq(m->route->method, "POST");
    match_free(m);

    m = match("POST", "/healthz");
    cr_assert_eq(m->result, HTTP_MATCH_METHOD);
    cr_assert_not_null(m->route);
    cr_assert_str_eq(m->route->method, "GET");
    match_free(m);
}

Test(http_router, not_found_leaves_route_unset)
{
    struct match *m = match("POST", BASE "st-1/nope");
    cr_assert_eq(m->result, HTTP_MATCH_NOT_FOUND);
    cr_assert_null(m->route);
    match_free(m);
}

Test(http_router, unknown_paths_are_not_found)
{
    static const char *const paths[] = {
        "",
        "/",
        "/caseManagement",
        BASE,
        BASE "st-1",
        BASE "st-1/",
        BASE "st-1/updateTask",
        BASE "st-1/updateTasks/ti-1",
        BASE "st-1/UpdateTask/ti-1",
        BASE "st-1/updateTask/ti-1/extra",
        BASE "st-1/createCase/x",
        "/casemanagement/api/public/analytics/st-1/createCase",
        "caseManagement/api/public/analytics/st-1/createCase",
        "/healthz/",
        "/healthzz",
        "/health",
        "/any",
        "/any/",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        expect_result("POST", paths[i], HTTP_MATCH_NOT_FOUND);
        expect_result("GET", paths[i], HTTP_MATCH_NOT_FOUND);
    }
}

Test(http_router, trailing_slash_is_not_found)
{
    expect_result("POST", BASE "st-1/updateTask/ti-1/", HTTP_MATCH_NOT_FOUND);
    expect_result("POST", BASE "st-1/createCase/", HTTP_MATCH_NOT_FOUND);
    expect_result("GET", "/metrics/", HTTP_MATCH_NOT_FOUND);
}

Test(http_router, empty_segment_is_not_found)
{
    expect_result("POST", BASE "/createCase", HTTP_MATCH_NOT_FOUND);
    expect_result("POST", BASE "/updateTask/ti-1", HTTP_MATCH_NOT_FOUND);
    expect_result("POST", BASE "st-1/updateTask/", HTTP_MATCH_NOT_FOUND);
    expect_result("POST", BASE "st-1//updateTask/ti-1", HTTP_MATCH_NOT_FOUND);
    expect_result("GET", "/any//", HTTP_MATCH_NOT_FOUND);
}

Test(http_router, invalid_segment_bytes_are_not_found)
{
    /* API.md §3: anything else in a path segment is 404, never a 405 or a match. */
    static const char *const segs[] = {"st%2F1", "st 1",        "st+1", "st@1",  "st:1",
                                       "st;1",   "caf\xc3\xa9", "\xff", "st\"1", "st<1>",
                                       "st~1",   "st,1",        "st'1", "st*1"};
    for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, BASE "%s/updateTask/ti-1", segs[i]);
        expect_result("POST", path, HTTP_MATCH_NOT_FOUND);
        expect_result("GET", path, HTTP_MATCH_NOT_FOUND);
        snprintf(path, sizeof path, BASE "st-1/updateTask/%s", segs[i]);
        expect_result("POST", path, HTTP_MATCH_NOT_FOUND);
    }
}

Test(http_router, segment_of_128_matches_129_does_not)
{
    char *seg128 = repeat('a', 128), *seg129 = repeat('b', 129);
    char path[512];

    snprintf(path, sizeof path, BASE "%s/updateTask/%s", seg128, seg128);
    struct match *m = match("POST", path);
    cr_assert_eq(m->result, HTTP_MATCH_OK);
    cr_assert_str_eq(m->req.params[0], seg128);
    cr_assert_str_eq(m->req.params[1], seg128);
    match_free(m);

    snprintf(path, sizeof path, BASE "%s/updateTask/ti-1", seg129);
    expect_result("POST", path, HTTP_MATCH_NOT_FOUND);
    expect_result("GET", path, HTTP_MATCH_NOT_FOUND);
    snprintf(path, sizeof path, BASE "st-1/updateTask/%s", seg129);
    expect_result("POST", path, HTTP_MATCH_NOT_FOUND);

    free(seg128);
    free(seg129);
}

Test(http_router, single_char_segments)
{
    struct match *m = match("POST", BASE "s/updateCase/c");
    cr_assert_eq(m->result, HTTP_MATCH_OK);
    cr_assert_str_eq(m->req.params[0], "s");
    cr_assert_str_eq(m->req.params[1], "c");
    match_free(m);
}

Test(http_router, null_method_matches_any_method)
{
    static const char *const methods[] = {"GET", "POST", "BREW"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct match *m = match(methods[i], "/any/x.y_z-1");
        cr_assert_eq(m->result, HTTP_MATCH_OK, "%s", methods[i]);
        cr_assert_str_eq(m->route->name, "any");
        cr_assert_str_eq(m->req.params[0], "x.y_z-1");
        match_free(m);
    }
}

Test(http_router, same_path_two_methods_picks_the_right_one)
{
    struct match *m = match("DELETE", "/twice");
    cr_assert_eq(m->result, HTTP_MATCH_OK);
    cr_assert_str_eq(m->route->name, "twice-delete");
    match_free(m);
    m = match("GET", "/twice");
    cr_assert_eq(m->result, HTTP_MATCH_OK);
    cr_assert_str_eq(m->route->name, "twice-get");
    match_free(m);
    expect_result("POST", "/twice", HTTP_MATCH_METHOD);
}

Test(http_router, params_point_into_scratch_not_path)
{
    char path[] = BASE "st-1/updateTask/ti-1";
    struct match *m = match("POST", path);
    cr_assert_eq(m->result, HTTP_MATCH_OK);
    memset(path, 'x', sizeof path - 1); /* the caller may reuse its path buffer */
    cr_assert_str_eq(m->req.params[0], "st-1");
    cr_assert_str_eq(m->req.params[1], "ti-1");
    cr_assert(m->req.params[0] >= m->scratch && m->req.params[1] > m->req.params[0]);
    match_free(m);
}

Test(http_router, empty_table_is_not_found)
{
    struct http_request req = {0};
    const struct http_route *route = NULL;
    char scratch[8];
    cr_assert_eq(http_route_match(routes, 0, "GET", "/healthz", &req, scratch, &route),
                 HTTP_MATCH_NOT_FOUND);
    cr_assert_null(route);
}

/* A 404 says what would make the path one the server serves: it said "no such endpoint" to a
 * trailing slash, a missing id and getcases alike. */
Test(http_router, a_hint_for_near_misses)
{
    static const char *const cases[][2] = {
        {BASE "st-1/getCases/", "; drop the trailing /"},
        {"/metrics/", "; drop the trailing /"},
        {BASE "st-1/updateTask", "; updateTask takes an id: .../updateTask/{id}"},
        {BASE "st-1/updateTask/", "; updateTask takes an id: .../updateTask/{id}"},
        {BASE "st-1//getTasks", "; the path has an empty segment (//)"},
        {BASE "st-1/getcases", "; endpoint names are case-sensitive: getCases"},
        {BASE "st-1/UPDATETASK/ti-1", "; endpoint names are case-sensitive: updateTask"},
        {"/Healthz", "; endpoint names are case-sensitive: healthz"},
        {BASE "st-1/nothing", ""},
        {"/", ""},
        {"", ""},
        {"//", ""},
        {BASE "st 1/getCases", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hint[128];
        http_route_hint(routes, NROUTES, cases[i][0], hint, sizeof hint);
        cr_expect_str_eq(hint, cases[i][1], "%s", cases[i][0]);
    }
    char tiny[8]; /* cut, never overrun */
    http_route_hint(routes, NROUTES, BASE "st-1/updateTask", tiny, sizeof tiny);
    cr_expect_eq(strlen(tiny), sizeof tiny - 1);
}
