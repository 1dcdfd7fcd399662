/* Unit tests for doc/config (API.md §4, §7, §9): the default stream configuration, name
 * matching, status/priority resolution and the administration helpers. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "doc/config.h"

/* ---------------------------------------------------------------- helpers */

static const char *str_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* API.md §3: prefix + a v4 UUID without its first hex digit (7-4-4-4-12). */
static bool vendor_id(const char *id, const char *prefix)
{
    size_t p = strlen(prefix);
    if (!id || strncmp(id, prefix, p) != 0 || strlen(id) != p + 35)
        return false;
    const char *u = id + p;
    return is_hex(u, 7) && u[7] == '-' && is_hex(u + 8, 4) && u[12] == '-' && u[13] == '4' &&
           is_hex(u + 14, 3) && u[17] == '-' && strchr("89ab", u[18]) && is_hex(u + 19, 3) &&
           u[22] == '-' && is_hex(u + 23, 12);
}

static const json_t *list(const json_t *cfg, const char *name)
{
    const json_t *l = json_object_get(cfg, name);
    cr_assert(json_is_array(l), "config has no array %s", name);
    return l;
}

static json_t *obj(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    cr_assert_not_null(v, "bad test JSON %s: %s", text, je.text);
    return v;
}

/* ---------------------------------------------------------------- defaults */

Test(doc_config, default_statuses)
{
    static const struct {
        const char *name, *lname, *category;
    } want[] = {{"Open", "open", "open"},
                {"In-Progress", "in-progress", "inProgress"},
                {"On-Hold", "on-hold", "inProgress"},
                {"Resolved", "resolved", "resolved"},
                {"Closed", "closed", "closed"}};
    json_t *cfg = config_default();
    const json_t *sts = list(cfg, "statuses");
    cr_assert_eq(json_array_size(sts), 5);
    for (size_t i = 0; i < 5; i++) {
        const json_t *s = json_array_get(sts, i);
        cr_expect_str_eq(str_of(s, "name"), want[i].name);
        cr_expect_str_eq(str_of(s, "lname"), want[i].lname);
        cr_expect_str_eq(str_of(s, "statusCategory"), want[i].category);
        cr_expect_str_eq(str_of(s, "type"), "system");
        cr_expect(json_is_true(json_object_get(s, "isEnabled")));
        cr_expect(json_is_true(json_object_get(s, "isActive")));
        cr_expect(vendor_id(str_of(s, "_id"), "sts-"), "status id %s", str_of(s, "_id"));
    }
    json_decref(cfg);
}

Test(doc_config, default_priorities)
{
    static const struct {
        const char *name, *color;
        int score;
    } want[] = {{"Low", "#2563EB", 5},
                {"Medium", "#16A34A", 10},
                {"High", "#EA580C", 13},
                {"Critical", "#DC2626", 15}};
    json_t *cfg = config_default();
    const json_t *prs = list(cfg, "priorities");
    cr_assert_eq(json_array_size(prs), 4);
    for (size_t i = 0; i < 4; i++) {
        const json_t *p = json_array_get(prs, i);
        cr_expect_str_eq(str_of(p, "name"), want[i].name);
        cr_expect_str_eq(str_of(p, "color"), want[i].color);
        cr_expect(json_is_integer(json_object_get(p, "score")));
        cr_expect_eq(json_integer_value(json_object_get(p, "score")), want[i].score);
        cr_expect_str_eq(str_of(p, "type"), "system");
        cr_expect(json_is_true(json_object_get(p, "isEnabled")));
        cr_expect(json_is_true(json_object_get(p, "isActive")));
        cr_expect(vendor_id(str_of(p, "_id"), "pr-"), "priority id %s", str_of(p, "_id"));
    }
    json_decref(cfg);
}

/* API.md §4 lists desc among the members of every status and priority (and of template fields,
 * "shaped as in the vendor samples"). */
Test(doc_config, default_items_carry_desc)
{
    /* Regression (fixed in 3c52b28): named_item() packed three pairs for four, dropping "desc"
     * from every status, priority, template and field. */
    json_t *cfg = config_default();
    const char *lists[] = {"statuses", "priorities"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        const json_t *x;
        json_array_foreach(list(cfg, lists[l]), i, x)
            cr_expect(json_is_string(json_object_get(x, "desc")), "%s[%zu] (%s) has no desc",
                      lists[l], i, str_of(x, "name"));
    }
    const json_t *field = json_array_get(
        json_object_get(json_array_get(list(cfg, "caseTemplates"), 0), "fields"), 0);
    cr_expect(json_is_string(json_object_get(field, "desc")), "the Title field has no desc");
    json_decref(cfg);
}

static void check_template(const json_t *t, const char *prefix, bool due_required)
{
    static const struct {
        const char *display, *name, *widget, *data_type;
    } want[] = {{"Title", "title", "input", "input"},
                {"Description", "description", "textarea", "textarea"},
                {"Due Date", "dueDate", "datetime", "datetime"}};
    cr_expect(vendor_id(str_of(t, "_id"), prefix), "template id %s", str_of(t, "_id"));
    cr_expect(json_is_string(json_object_get(t, "name")));
    cr_expect_str_eq(str_of(t, "type"), "system");
    cr_expect(json_is_true(json_object_get(t, "isActive")));
    const json_t *fields = json_object_get(t, "fields");
    cr_assert_eq(json_array_size(fields), 3);
    for (size_t i = 0; i < 3; i++) {
        const json_t *f = json_array_get(fields, i);
        cr_expect(vendor_id(str_of(f, "_id"), "fd-"), "field id %s", str_of(f, "_id"));
        cr_expect_str_eq(str_of(f, "displayName"), want[i].display);
        cr_expect(json_is_string(json_object_get(f, "lname")));
        cr_expect(json_is_true(json_object_get(f, "show")));
        cr_expect(json_is_true(json_object_get(f, "isEnabled")));
        cr_expect(json_is_true(json_object_get(f, "isActive")));
        cr_expect_str_eq(str_of(f, "type"), "system");
        cr_expect_str_eq(str_of(f, "dataType"), want[i].data_type);
        cr_expect(json_is_boolean(json_object_get(f, "required")));
        const json_t *md = json_object_get(f, "metaData");
        cr_assert(json_is_object(md));
        cr_expect_str_eq(str_of(md, "type"), want[i].widget);
        cr_expect_str_eq(str_of(md, "name"), want[i].name);
        cr_expect_str_eq(str_of(md, "displayName"), want[i].display);
        const char *strings[] = {"description", "placeholder", "tooltipText"};
        for (size_t k = 0; k < 3; k++)
            cr_expect(json_is_string(json_object_get(md, strings[k])), "metaData.%s",
                      strings[k]);
        cr_expect(json_is_boolean(json_object_get(md, "readOnly")));
    }
    cr_expect(json_is_true(json_object_get(json_array_get(fields, 0), "required")),
              "Title is required");
    cr_expect_eq(json_is_true(json_object_get(json_array_get(fields, 2), "required")),
                 due_required);
}

Test(doc_config, default_templates)
{
    json_t *cfg = config_default();
    cr_assert_eq(json_array_size(list(cfg, "caseTemplates")), 1);
    cr_assert_eq(json_array_size(list(cfg, "taskTemplates")), 1);
    /* a case requires dueDate (API.md §6), a task does not */
    check_template(json_array_get(list(cfg, "caseTemplates"), 0), "ctm-", true);
    check_template(json_array_get(list(cfg, "taskTemplates"), 0), "ttm-", false);
    json_decref(cfg);
}

Test(doc_config, default_ids_are_fresh_and_distinct)
{
    json_t *a = config_default(), *b = config_default();
    const char *ia = str_of(json_array_get(list(a, "statuses"), 0), "_id");
    const char *ib = str_of(json_array_get(list(b, "statuses"), 0), "_id");
    cr_expect_str_neq(ia, ib);
    cr_expect_str_neq(str_of(json_array_get(list(a, "caseTemplates"), 0), "_id"),
                      str_of(json_array_get(list(b, "caseTemplates"), 0), "_id"));
    /* within one configuration no two statuses share an id */
    const json_t *sts = list(a, "statuses");
    for (size_t i = 0; i < json_array_size(sts); i++)
        for (size_t k = i + 1; k < json_array_size(sts); k++)
            cr_expect_str_neq(str_of(json_array_get(sts, i), "_id"),
                              str_of(json_array_get(sts, k), "_id"));
    json_decref(a);
    json_decref(b);
}

/* ---------------------------------------------------------------- names */

Test(doc_config, name_key_folds_case_and_separators)
{
    char a[CONFIG_NAME_KEY_MAX], b[CONFIG_NAME_KEY_MAX], c[CONFIG_NAME_KEY_MAX],
        d[CONFIG_NAME_KEY_MAX];
    config_name_key("in progress", a);
    config_name_key("In-Progress", b);
    config_name_key("in_progress", c);
    config_name_key("IN PROGRESS", d);
    cr_expect_str_eq(a, b);
    cr_expect_str_eq(a, c);
    cr_expect_str_eq(a, d);
    config_name_key("Open", a);
    config_name_key("Opened", b);
    cr_expect_str_neq(a, b);
    config_name_key("", a);
    cr_expect_str_eq(a, "");
}

Test(doc_config, name_key_is_bounded)
{
    char longname[600];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    char out[CONFIG_NAME_KEY_MAX + 8];
    memset(out, 'x', sizeof out);
    config_name_key(longname, out);
    cr_expect_eq(strlen(out), CONFIG_NAME_KEY_MAX - 1);
    cr_expect_eq(out[0], 'a');
    cr_expect_eq(out[CONFIG_NAME_KEY_MAX], 'x', "wrote past CONFIG_NAME_KEY_MAX");
}

/* ---------------------------------------------------------------- resolution */

static const json_t *status_named(const json_t *cfg, const char *name)
{
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(cfg, "statuses"), i, s) if (strcmp(str_of(s, "name"),
                                                                           name) == 0) return s;
    cr_assert_fail("no status %s", name);
    return NULL;
}

Test(doc_config, resolve_status_by_own_id)
{
    json_t *cfg = config_default();
    const json_t *closed = status_named(cfg, "Closed");
    char text[200];
    /* the _id wins over a name that names another status */
    snprintf(text, sizeof text, "{\"_id\":\"%s\",\"name\":\"Open\"}", str_of(closed, "_id"));
    json_t *given = obj(text);
    struct err e;
    cr_expect_eq(config_resolve_status(cfg, given, &e), closed);
    json_decref(given);
    json_decref(cfg);
}

Test(doc_config, resolve_status_foreign_id_known_name)
{
    json_t *cfg = config_default();
    json_t *given = obj("{\"_id\":\"sts-0000000-0000-4000-8000-000000000000\",\"name\":\"On-Hold\"}");
    struct err e;
    cr_expect_eq(config_resolve_status(cfg, given, &e), status_named(cfg, "On-Hold"));
    json_decref(given);
    json_decref(cfg);
}

Test(doc_config, resolve_status_name_spellings)
{
    json_t *cfg = config_default();
    const json_t *ip = status_named(cfg, "In-Progress");
    const char *spellings[] = {"{\"name\":\"in progress\"}", "{\"name\":\"In-Progress\"}",
                               "{\"name\":\"in_progress\"}", "{\"name\":\"IN PROGRESS\"}"};
    for (size_t i = 0; i < 4; i++) {
        json_t *given = obj(spellings[i]);
        struct err e;
        cr_expect_eq(config_resolve_status(cfg, given, &e), ip, "%s", spellings[i]);
        json_decref(given);
    }
    json_decref(cfg);
}

Test(doc_config, resolve_status_unknown_lists_valid_names)
{
    json_t *cfg = config_default();
    const char *bodies[] = {"{\"name\":\"Pending\"}", "{\"_id\":\"sts-nope\"}", "{}"};
    for (size_t i = 0; i < 3; i++) {
        json_t *given = obj(bodies[i]);
        struct err e = {0};
        cr_expect_null(config_resolve_status(cfg, given, &e), "%s", bodies[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE);
        cr_expect_str_eq(e.field, "status");
        const char *names[] = {"Open", "In-Progress", "On-Hold", "Resolved", "Closed"};
        for (size_t k = 0; k < 5; k++)
            cr_expect(strstr(e.msg, names[k]), "message \"%s\" lacks %s", e.msg, names[k]);
        json_decref(given);
    }
    json_decref(cfg);
}

Test(doc_config, resolve_priority)
{
    json_t *cfg = config_default();
    json_t *given = obj("{\"name\":\"critical\"}");
    struct err e = {0};
    const json_t *p = config_resolve_priority(cfg, given, &e);
    cr_assert_not_null(p);
    cr_expect_str_eq(str_of(p, "name"), "Critical");
    cr_expect_eq(p, config_priority_by_name(cfg, "CRITICAL"));
    json_decref(given);

    given = obj("{\"name\":\"Urgent\"}");
    cr_expect_null(config_resolve_priority(cfg, given, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "priority");
    cr_expect(strstr(e.msg, "Low, Medium, High, Critical"), "message: %s", e.msg);
    json_decref(given);
    json_decref(cfg);
}

Test(doc_config, resolve_refuses_inactive)
{
    json_t *cfg = config_default();
    struct err e = {0};
    const json_t *arch = config_add_status(cfg, "Archived", "closed", false, &e);
    cr_assert_not_null(arch, "%s", e.msg);
    const char *id = str_of(arch, "_id");
    char text[200];
    snprintf(text, sizeof text, "{\"_id\":\"%s\"}", id);
    const char *bodies[] = {"{\"name\":\"archived\"}", text};
    for (size_t i = 0; i < 2; i++) {
        json_t *given = obj(bodies[i]);
        memset(&e, 0, sizeof e);
        cr_expect_null(config_resolve_status(cfg, given, &e), "%s", bodies[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE);
        cr_expect(strstr(e.msg, "inactive"), "message: %s", e.msg);
        /* the valid names offered are the active ones */
        cr_expect(strstr(e.msg, "Open"), "message: %s", e.msg);
        cr_expect_null(strstr(strstr(e.msg, "valid names") ? strstr(e.msg, "valid names") : "",
                              "Archived"),
                       "an inactive status is offered: %s", e.msg);
        json_decref(given);
    }
    /* a priority disabled with isEnabled:false is inactive too */
    json_t *high = (json_t *)config_priority_by_name(cfg, "High");
    json_object_set_new(high, "isEnabled", json_false());
    json_t *given = obj("{\"name\":\"High\"}");
    cr_expect_null(config_resolve_priority(cfg, given, &e));
    json_decref(given);
    json_decref(cfg);
}

Test(doc_config, by_name_lookups)
{
    json_t *cfg = config_default();
    cr_expect_str_eq(str_of(config_status_by_name(cfg, "on hold"), "name"), "On-Hold");
    cr_expect_str_eq(str_of(config_priority_by_name(cfg, "medium"), "name"), "Medium");
    cr_expect_null(config_status_by_name(cfg, "Medium"));
    cr_expect_null(config_priority_by_name(cfg, "Open"));
    json_decref(cfg);
}

Test(doc_config, templates_by_kind)
{
    json_t *cfg = config_default();
    const char *ctm = str_of(json_array_get(list(cfg, "caseTemplates"), 0), "_id");
    const char *ttm = str_of(json_array_get(list(cfg, "taskTemplates"), 0), "_id");
    cr_expect_not_null(config_template(cfg, DOC_CASE, ctm));
    cr_expect_not_null(config_template(cfg, DOC_TASK, ttm));
    cr_expect_null(config_template(cfg, DOC_TASK, ctm));
    cr_expect_null(config_template(cfg, DOC_CASE, ttm));

    struct err e = {0};
    cr_expect_null(config_template_or_err(cfg, DOC_TASK, ctm, "taskTmp", &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "taskTmp");

    json_object_set_new((json_t *)config_template(cfg, DOC_CASE, ctm), "isActive", json_false());
    cr_expect_not_null(config_template(cfg, DOC_CASE, ctm), "inactive templates are returned");
    memset(&e, 0, sizeof e);
    cr_expect_null(config_template_or_err(cfg, DOC_CASE, ctm, "caseTmp", &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "caseTmp");
    cr_expect(strstr(e.msg, "inactive"), "message: %s", e.msg);
    json_decref(cfg);
}

/* ---------------------------------------------------------------- administration */

Test(doc_config, add_status)
{
    json_t *cfg = config_default();
    struct err e = {0};
    const json_t *s = config_add_status(cfg, "Waiting On Customer", "inProgress", true, &e);
    cr_assert_not_null(s, "%s", e.msg);
    cr_expect(vendor_id(str_of(s, "_id"), "sts-"));
    cr_expect_str_eq(str_of(s, "statusCategory"), "inProgress");
    cr_expect_str_eq(str_of(s, "type"), "custom");
    cr_expect_str_eq(str_of(s, "lname"), "waiting on customer");
    cr_expect_eq(json_array_size(list(cfg, "statuses")), 6);
    json_t *given = obj("{\"name\":\"waiting-on-customer\"}");
    cr_expect_eq(config_resolve_status(cfg, given, &e), s);
    json_decref(given);
    json_decref(cfg);
}

Test(doc_config, add_status_refusals)
{
    json_t *cfg = config_default();
    struct err e = {0};
    cr_expect_null(config_add_status(cfg, "Parked", "paused", true, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "category");
    const char *dups[] = {"open", "in progress", "ON_HOLD", ""};
    for (size_t i = 0; i < 4; i++) {
        memset(&e, 0, sizeof e);
        cr_expect_null(config_add_status(cfg, dups[i], "open", true, &e), "\"%s\"", dups[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE);
        cr_expect_str_eq(e.field, "name");
    }
    cr_expect_eq(json_array_size(list(cfg, "statuses")), 5, "a refused status was added");
    /* not UTF-8, control characters, spaces around: refused with a reason (the first had none) */
    const char *bad[] = {"bad\xff", "over\xc0\xaflong", "ctl\x01", "   ", " lead", "trail\t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        cr_expect_null(config_add_status(cfg, bad[i], "open", true, &e), "\"%s\"", bad[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE, "\"%s\"", bad[i]);
        cr_expect_gt(strlen(e.msg), 0, "a reason for \"%s\"", bad[i]);
    }
    cr_expect_eq(json_array_size(list(cfg, "statuses")), 5, "a refused status was added");
    json_decref(cfg);
}

Test(doc_config, names_match_by_unicode_lower_casing)
{
    /* Über and über were two statuses, and ÜBER matched neither, folded by ASCII alone */
    json_t *cfg = config_default();
    struct err e = {0};
    const json_t *s = config_add_status(cfg, "Über Uns", "open", true, &e);
    cr_assert_not_null(s, "%s", e.msg);
    cr_expect_str_eq(json_string_value(json_object_get(s, "lname")), "über uns");
    cr_expect_null(config_add_status(cfg, "über_uns", "open", true, &e));
    cr_expect_eq(config_status_by_name(cfg, "ÜBER-UNS"), s);
    cr_expect_eq(config_status_by_name(cfg, "über uns"), s);
    cr_expect_null(config_status_by_name(cfg, "uber uns"));
    char key[CONFIG_NAME_KEY_MAX];
    config_name_key("ȺȺ Ⱥ", key); /* lower-casing grows it: 2 bytes each to 3 */
    cr_expect_str_eq(key, "ⱥⱥ-ⱥ");
    json_decref(cfg);
}

Test(doc_config, all_by_name_finds_names_an_older_version_stored_twice)
{
    /* a casemgr before the Unicode matching stored Über and über as two statuses: a filter by
     * either resolved to the first only, and the records of the second were found by neither */
    json_t *cfg = config_default();
    struct err e = {0};
    const json_t *upper = config_add_status(cfg, "Über", "open", true, &e);
    cr_assert_not_null(upper, "%s", e.msg);
    json_t *lower = json_deep_copy(upper);
    json_object_set_new(lower, "name", json_string("über"));
    json_object_set_new(lower, "_id", json_string("sts-older"));
    json_array_append_new(json_object_get(cfg, "statuses"), lower);
    const json_t *found[4];
    cr_expect_eq(config_all_by_name(cfg, "statuses", "ÜBER", found, 4), 2);
    cr_expect_eq(found[0], upper);
    cr_expect_eq(found[1], lower);
    cr_expect_eq(config_all_by_name(cfg, "statuses", "über", found, 1), 2, "counts past max");
    cr_expect_eq(config_all_by_name(cfg, "statuses", "uber", found, 4), 0);
    cr_expect_eq(config_all_by_name(cfg, "priorities", "Über", found, 4), 0);
    json_decref(cfg);
}

Test(doc_config, template_field_names_are_distinct)
{
    json_t *cfg = config_default();
    struct err e = {0};
    const char *dup[] = {"note:input", "note:number"};
    cr_expect_null(config_add_template(cfg, DOC_CASE, NULL, "Dup", dup, 2, &e));
    cr_expect_str_eq(e.field, "field");
    const char *sys[] = {"dueDate:checkbox"};
    cr_expect_null(config_add_template(cfg, DOC_CASE, NULL, "Sys", sys, 1, &e));
    const char *junk[] = {"a:input:required:junk"};
    cr_expect_null(config_add_template(cfg, DOC_CASE, NULL, "Junk", junk, 1, &e));
    /* as names match: Title and title, x and X, due_date and Due-Date are one */
    const char *title[] = {"Title:input"};
    cr_expect_null(config_add_template(cfg, DOC_CASE, NULL, "Title", title, 1, &e));
    const char *cased[] = {"x:input", "X:input"};
    cr_expect_null(config_add_template(cfg, DOC_CASE, NULL, "Cased", cased, 2, &e));
    const char *due[] = {"due_date:input", "Due-Date:input"};
    cr_expect_null(config_add_template(cfg, DOC_CASE, NULL, "Due", due, 2, &e));
    const char *ok[] = {"a:input:required", "b:number"};
    cr_expect_not_null(config_add_template(cfg, DOC_CASE, NULL, "Ok", ok, 2, &e), "%s", e.msg);
    /* a template's name is its kind's own: T1 and t1 were two templates of one stream */
    cr_expect_null(config_add_template(cfg, DOC_CASE, NULL, "ok", NULL, 0, &e));
    cr_expect_str_eq(e.field, "name");
    cr_expect_not_null(config_add_template(cfg, DOC_TASK, NULL, "Ok", NULL, 0, &e), "%s", e.msg);
    json_decref(cfg);
}

Test(doc_config, add_priority_score_bounds)
{
    json_t *cfg = config_default();
    struct err e = {0};
    const int bad[] = {0, 16, -1};
    for (size_t i = 0; i < 3; i++) {
        memset(&e, 0, sizeof e);
        cr_expect_null(config_add_priority(cfg, "Odd", bad[i], NULL, true, &e), "%d", bad[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE);
        cr_expect_str_eq(e.field, "score");
    }
    const json_t *lo = config_add_priority(cfg, "Trivial", 1, NULL, true, &e);
    cr_assert_not_null(lo, "%s", e.msg);
    cr_expect_eq(json_integer_value(json_object_get(lo, "score")), 1);
    cr_expect_str_eq(str_of(lo, "color"), "#6B7280");
    cr_expect_str_eq(str_of(lo, "type"), "custom");
    cr_expect(vendor_id(str_of(lo, "_id"), "pr-"));
    const json_t *hi = config_add_priority(cfg, "Blocker", 15, "#000000", false, &e);
    cr_assert_not_null(hi, "%s", e.msg);
    cr_expect_str_eq(str_of(hi, "color"), "#000000");
    cr_expect(json_is_false(json_object_get(hi, "isActive")));
    cr_expect_eq(json_array_size(list(cfg, "priorities")), 6);
    json_decref(cfg);
}

Test(doc_config, add_priority_duplicate_name)
{
    json_t *cfg = config_default();
    struct err e = {0};
    cr_expect_null(config_add_priority(cfg, "HIGH", 7, NULL, true, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "name");
    cr_expect_null(config_add_priority(cfg, "", 7, NULL, true, &e));
    cr_expect_eq(json_array_size(list(cfg, "priorities")), 4);
    json_decref(cfg);
}

static const json_t *field_named(const json_t *tmpl, const char *name)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(tmpl, "fields"), i, f)
    {
        if (strcmp(str_of(json_object_get(f, "metaData"), "name"), name) == 0)
            return f;
    }
    return NULL;
}

Test(doc_config, add_template_with_fields)
{
    json_t *cfg = config_default();
    struct err e = {0};
    const char *specs[] = {"Order Id:input", "Amount:number:required", "Paid:checkbox",
                           "Follow Up:datetime", "Notes:textarea"};
    const json_t *t = config_add_template(cfg, DOC_CASE, NULL, "Refund", specs, 5, &e);
    cr_assert_not_null(t, "%s", e.msg);
    cr_expect(vendor_id(str_of(t, "_id"), "ctm-"), "id %s", str_of(t, "_id"));
    cr_expect_str_eq(str_of(t, "name"), "Refund");
    cr_expect_str_eq(str_of(t, "type"), "custom");
    cr_expect_eq(json_array_size(list(cfg, "caseTemplates")), 2);
    const json_t *fields = json_object_get(t, "fields");
    cr_assert_eq(json_array_size(fields), 8, "3 system fields + 5 custom");
    cr_expect_str_eq(str_of(json_object_get(json_array_get(fields, 0), "metaData"), "name"),
                     "title");
    static const struct {
        const char *name, *widget, *data_type;
        bool required;
    } want[] = {{"Order Id", "input", "input", false},
                {"Amount", "number", "number", true},
                {"Paid", "checkbox", "boolean", false},
                {"Follow Up", "datetime", "datetime", false},
                {"Notes", "textarea", "textarea", false}};
    for (size_t i = 0; i < 5; i++) {
        const json_t *f = json_array_get(fields, 3 + i);
        cr_expect_str_eq(str_of(json_object_get(f, "metaData"), "name"), want[i].name);
        cr_expect_str_eq(str_of(json_object_get(f, "metaData"), "type"), want[i].widget);
        cr_expect_str_eq(str_of(f, "dataType"), want[i].data_type);
        cr_expect_eq(json_is_true(json_object_get(f, "required")), want[i].required, "%s",
                     want[i].name);
        cr_expect_str_eq(str_of(f, "type"), "custom");
        cr_expect(vendor_id(str_of(f, "_id"), "fd-"));
    }
    cr_expect_not_null(field_named(t, "Amount"));
    cr_expect_eq(config_template(cfg, DOC_CASE, str_of(t, "_id")), t);

    const json_t *task = config_add_template(cfg, DOC_TASK, NULL, "Call back", NULL, 0, &e);
    cr_assert_not_null(task, "%s", e.msg);
    cr_expect(vendor_id(str_of(task, "_id"), "ttm-"), "id %s", str_of(task, "_id"));
    cr_expect_eq(json_array_size(json_object_get(task, "fields")), 3);
    json_decref(cfg);
}

Test(doc_config, add_template_given_id)
{
    json_t *cfg = config_default();
    struct err e = {0};
    const json_t *t = config_add_template(cfg, DOC_TASK, "ttm-callback", "Call back", NULL, 0, &e);
    cr_assert_not_null(t, "%s", e.msg);
    cr_expect_str_eq(str_of(t, "_id"), "ttm-callback");
    cr_expect_eq(config_template(cfg, DOC_TASK, "ttm-callback"), t);

    memset(&e, 0, sizeof e);
    cr_expect_null(config_add_template(cfg, DOC_TASK, "ttm-callback", "Again", NULL, 0, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "id");
    memset(&e, 0, sizeof e);
    cr_expect_null(config_add_template(cfg, DOC_TASK, "bad id!", "Bad", NULL, 0, &e));
    cr_expect_str_eq(e.field, "id");
    memset(&e, 0, sizeof e);
    cr_expect_null(config_add_template(cfg, DOC_TASK, NULL, "", NULL, 0, &e));
    cr_expect_str_eq(e.field, "name");
    cr_expect_eq(json_array_size(list(cfg, "taskTemplates")), 2);
    json_decref(cfg);
}

Test(doc_config, add_template_bad_field_specs)
{
    json_t *cfg = config_default();
    const char *bad[] = {"Order", "Order:color", "Order:input:optional", ":input"};
    for (size_t i = 0; i < 4; i++) {
        struct err e = {0};
        const char *specs[] = {"Fine:input", bad[i]};
        cr_expect_null(config_add_template(cfg, DOC_CASE, NULL, "Refund", specs, 2, &e), "%s",
                       bad[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE);
        cr_expect_str_eq(e.field, "field");
    }
    cr_expect_eq(json_array_size(list(cfg, "caseTemplates")), 1, "a refused template was added");
    json_decref(cfg);
}

/* Names past 200 bytes (a status's and a priority's are indexed with every record) and a color
 * that is not #RRGGBB are refused; so is a field spec past 255 bytes (it was cut short, and then
 * refused as a malformed spec). */
Test(doc_config, add_refuses_long_names_and_bad_colors)
{
    json_t *cfg = config_default();
    char name[202], spec[320];
    memset(name, 'n', 201);
    name[201] = '\0';
    struct err e = {0};
    cr_expect_null(config_add_status(cfg, name, "open", true, &e));
    cr_expect_str_eq(e.field, "name");
    cr_expect_null(config_add_priority(cfg, name, 3, NULL, true, &e));
    cr_expect_str_eq(e.field, "name");
    cr_expect_null(config_add_template(cfg, DOC_TASK, NULL, name, NULL, 0, &e));
    cr_expect_str_eq(e.field, "name");
    snprintf(spec, sizeof spec, "%s:input", name);
    const char *specs[] = {spec};
    cr_expect_null(config_add_template(cfg, DOC_TASK, NULL, "Long field", specs, 1, &e));
    cr_expect_str_eq(e.field, "field");
    char spec2[300];
    snprintf(spec2, sizeof spec2, "%.*s:input:required%*s", 100, name, 150, "");
    specs[0] = spec2; /* 265 bytes: a name of 100, then blanks past the end of the buffer */
    cr_expect_null(config_add_template(cfg, DOC_TASK, NULL, "Long spec", specs, 1, &e));
    cr_expect_str_eq(e.field, "field");
    cr_expect(strstr(e.msg, "at most 255 bytes"), "%s", e.msg);
    const char *colors[] = {"red", "#12345", "#1234567", "#GG0000", "123456#", ""};
    for (size_t i = 0; i < sizeof colors / sizeof colors[0]; i++) {
        memset(&e, 0, sizeof e);
        cr_expect_null(config_add_priority(cfg, "Tinted", 3, colors[i], true, &e), "%s", colors[i]);
        cr_expect_str_eq(e.field, "color", "%s", colors[i]);
    }
    name[200] = '\0'; /* 200 bytes is fine */
    cr_expect_not_null(config_add_status(cfg, name, "open", true, &e), "%s", e.msg);
    cr_expect_not_null(config_add_priority(cfg, "Tinted", 3, "#a1B2c3", true, &e), "%s", e.msg);
    cr_expect_eq(json_array_size(list(cfg, "statuses")), 6);
    cr_expect_eq(json_array_size(list(cfg, "priorities")), 5);
    json_decref(cfg);
}
