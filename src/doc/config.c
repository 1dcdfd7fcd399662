#include "doc/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/id.h"
#include "util/text.h"

static const char *const categories[] = {"open", "inProgress", "resolved", "closed"};

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* s lower-cased as lname is (ASCII by hand: the common case, and no allocation), into out. */
static void lower_into(const char *s, char *out, size_t size)
{
    char *heap = is_ascii(s) ? NULL : text_lower(s, strlen(s));
    const char *from = heap ? heap : s;
    size_t i = 0;
    for (; i < size - 1 && from[i]; i++)
        out[i] = (char)tolower((unsigned char)from[i]);
    out[i] = '\0';
    free(heap);
}

void config_name_key(const char *name, char out[CONFIG_NAME_KEY_MAX])
{
    /* Über and über were two statuses, and ÜBER matched neither when folded by ASCII alone */
    lower_into(name, out, CONFIG_NAME_KEY_MAX);
    for (char *p = out; *p; p++)
        if (*p == ' ' || *p == '_')
            *p = '-';
}

static bool name_matches(const json_t *obj, const char *key)
{
    const char *n = json_string_value(json_object_get(obj, "name"));
    if (!n)
        return false;
    char k[CONFIG_NAME_KEY_MAX];
    config_name_key(n, k);
    return strcmp(k, key) == 0;
}

static const json_t *by_name(const json_t *list, const char *name)
{
    char key[CONFIG_NAME_KEY_MAX];
    config_name_key(name, key);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x) if (name_matches(x, key)) return x;
    return NULL;
}

size_t config_all_by_name(const json_t *cfg, const char *member, const char *name,
                          const json_t **out, size_t max)
{
    char key[CONFIG_NAME_KEY_MAX];
    config_name_key(name, key);
    size_t i, n = 0;
    const json_t *x;
    json_array_foreach(json_object_get(cfg, member), i, x)
    {
        if (!name_matches(x, key))
            continue;
        if (n < max)
            out[n] = x;
        n++;
    }
    return n;
}

static const json_t *by_id(const json_t *list, const char *id)
{
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const char *xid = json_string_value(json_object_get(x, "_id"));
        if (xid && strcmp(xid, id) == 0)
            return x;
    }
    return NULL;
}

static bool is_active(const json_t *x)
{
    return json_is_true(json_object_get(x, "isActive")) &&
           !json_is_false(json_object_get(x, "isEnabled"));
}

static json_t *named_item(const char *prefix, const char *name, const char *desc)
{
    char id[ID_MAX];
    id_new(prefix, id);
    char lname[CONFIG_NAME_KEY_MAX];
    lower_into(name, lname, sizeof lname);
    return json_pack("{s:s, s:s, s:s, s:s}", "_id", id, "name", name, "lname", lname, "desc",
                     desc);
}

static json_t *status_new(const char *name, const char *category, bool system, bool active)
{
    json_t *s = named_item("sts-", name, "");
    json_object_set_new(s, "statusCategory", json_string(category));
    json_object_set_new(s, "type", json_string(system ? "system" : "custom"));
    json_object_set_new(s, "isEnabled", json_boolean(active));
    json_object_set_new(s, "isActive", json_boolean(active));
    return s;
}

static json_t *priority_new(const char *name, const char *color, int score, bool system,
                            bool active)
{
    json_t *p = named_item("pr-", name, "");
    json_object_set_new(p, "color", json_string(color));
    json_object_set_new(p, "score", json_integer(score));
    json_object_set_new(p, "type", json_string(system ? "system" : "custom"));
    json_object_set_new(p, "isEnabled", json_boolean(active));
    json_object_set_new(p, "isActive", json_boolean(active));
    return p;
}

/* A template field shaped like the vendor's samples; dataType follows the widget type (the
 * vendor's samples have "input" and "textarea" for Title and Description; values of both, and of
 * the "string" that streams seeded before kept, are strings: doc/apply field_value). */
static json_t *field_new(const char *display, const char *name, const char *widget, bool required,
                         bool system)
{
    static const struct {
        const char *widget, *data_type;
    } types[] = {{"input", "input"},   {"textarea", "textarea"}, {"datetime", "datetime"},
                 {"number", "number"}, {"checkbox", "boolean"}};
    const char *data_type = NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].widget, widget) == 0)
            data_type = types[i].data_type;
    if (!data_type)
        return NULL;
    json_t *f = named_item("fd-", display, "");
    json_object_del(f, "name");
    json_object_set_new(f, "show", json_true());
    json_object_set_new(f, "displayName", json_string(display));
    json_object_set_new(f, "isEnabled", json_true());
    json_object_set_new(f, "isActive", json_true());
    json_object_set_new(f, "metaData",
                        json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "type", widget,
                                  "displayName", display, "name", name, "description", "",
                                  "placeholder", "", "readOnly", 0, "tooltipText", ""));
    json_object_set_new(f, "type", json_string(system ? "system" : "custom"));
    json_object_set_new(f, "required", json_boolean(required));
    json_object_set_new(f, "dataType", json_string(data_type));
    return f;
}

static json_t *template_new(enum doc_kind kind, const char *id, const char *name, bool system)
{
    char gen[ID_MAX];
    if (!id) {
        id_new(kind == DOC_CASE ? "ctm-" : "ttm-", gen);
        id = gen;
    }
    json_t *t = named_item("x-", name, "");
    json_object_set_new(t, "_id", json_string(id));
    json_object_set_new(t, "type", json_string(system ? "system" : "custom"));
    json_object_set_new(t, "isEnabled", json_true());
    json_object_set_new(t, "isActive", json_true());
    json_t *fields = json_array();
    /* API.md §4: the three system fields of every template */
    json_array_append_new(fields, field_new("Title", "title", "input", true, true));
    json_array_append_new(fields, field_new("Description", "description", "textarea", false, true));
    json_array_append_new(fields,
                          field_new("Due Date", "dueDate", "datetime", kind == DOC_CASE, true));
    json_object_set_new(t, "fields", fields);
    return t;
}

json_t *config_default(void)
{
    json_t *statuses = json_array();
    json_array_append_new(statuses, status_new("Open", "open", true, true));
    json_array_append_new(statuses, status_new("In-Progress", "inProgress", true, true));
    json_array_append_new(statuses, status_new("On-Hold", "inProgress", true, true));
    json_array_append_new(statuses, status_new("Resolved", "resolved", true, true));
    json_array_append_new(statuses, status_new("Closed", "closed", true, true));
    json_t *priorities = json_array();
    json_array_append_new(priorities, priority_new("Low", "#2563EB", 5, true, true));
    json_array_append_new(priorities, priority_new("Medium", "#16A34A", 10, true, true));
    json_array_append_new(priorities, priority_new("High", "#EA580C", 13, true, true));
    json_array_append_new(priorities, priority_new("Critical", "#DC2626", 15, true, true));
    json_t *cases = json_array();
    json_array_append_new(cases, template_new(DOC_CASE, NULL, "Default Case", true));
    json_t *tasks = json_array();
    json_array_append_new(tasks, template_new(DOC_TASK, NULL, "Default Task", true));
    return json_pack("{s:o, s:o, s:o, s:o}", "statuses", statuses, "priorities", priorities,
                     "caseTemplates", cases, "taskTemplates", tasks);
}

static void list_names(const json_t *list, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        if (!is_active(x))
            continue;
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                         json_string_value(json_object_get(x, "name")));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/* API.md §7: by _id when it is one of the stream's, otherwise by name. */
static const json_t *resolve(const json_t *list, const json_t *given, const char *member,
                             struct err *e)
{
    const json_t *found = NULL;
    const char *id = json_string_value(json_object_get(given, "_id"));
    const char *name = json_string_value(json_object_get(given, "name"));
    if (id)
        found = by_id(list, id);
    if (!found && name)
        found = by_name(list, name);
    char names[400];
    list_names(list, names, sizeof names);
    if (!found) {
        err_set(e, ERR_INVALID_VALUE, member, "unknown %s %s; valid names: %s", member,
                name ? name : (id ? id : "(no _id or name given)"), names);
        return NULL;
    }
    if (!is_active(found)) {
        err_set(e, ERR_INVALID_VALUE, member, "%s %s is inactive; valid names: %s", member,
                json_string_value(json_object_get(found, "name")), names);
        return NULL;
    }
    return found;
}

const json_t *config_resolve_status(const json_t *cfg, const json_t *given, struct err *e)
{
    return resolve(json_object_get(cfg, "statuses"), given, "status", e);
}

const json_t *config_resolve_priority(const json_t *cfg, const json_t *given, struct err *e)
{
    return resolve(json_object_get(cfg, "priorities"), given, "priority", e);
}

const json_t *config_status_by_name(const json_t *cfg, const char *name)
{
    return by_name(json_object_get(cfg, "statuses"), name);
}

const json_t *config_priority_by_name(const json_t *cfg, const char *name)
{
    return by_name(json_object_get(cfg, "priorities"), name);
}

static const char *templates_member(enum doc_kind kind)
{
    return kind == DOC_CASE ? "caseTemplates" : "taskTemplates";
}

const json_t *config_template(const json_t *cfg, enum doc_kind kind, const char *id)
{
    return by_id(json_object_get(cfg, templates_member(kind)), id);
}

bool config_field_is_datetime(const json_t *cfg, enum doc_kind kind, bool by_name,
                              const char *field)
{
    size_t i, k;
    const json_t *t, *f;
    json_array_foreach(json_object_get(cfg, templates_member(kind)), i, t)
    {
        json_array_foreach(json_object_get(t, "fields"), k, f)
        {
            const json_t *key = by_name ? json_object_get(json_object_get(f, "metaData"), "name")
                                        : json_object_get(f, "_id");
            const char *type = json_string_value(json_object_get(f, "dataType"));
            if (json_is_string(key) && strcmp(json_string_value(key), field) == 0 && type &&
                strcmp(type, "datetime") == 0)
                return true;
        }
    }
    return false;
}

const json_t *config_template_or_err(const json_t *cfg, enum doc_kind kind, const char *id,
                                     const char *member, struct err *e)
{
    const json_t *t = config_template(cfg, kind, id);
    if (!t) {
        err_set(e, ERR_INVALID_VALUE, member, "%s %s is not a %s template of this stream", member,
                id, kind == DOC_CASE ? "case" : "task");
        return NULL;
    }
    if (!is_active(t)) {
        err_set(e, ERR_INVALID_VALUE, member, "template %s is inactive", id);
        return NULL;
    }
    return t;
}

/* The longest name of a status, priority, template or field: names are matched, listed in error
 * messages and (statuses, priorities) indexed with every record. */
#define CONFIG_NAME_MAX 200

/* 1-CONFIG_NAME_MAX bytes of UTF-8 without control characters, not starting or ending with a
 * space (a name of spaces alone was taken; one of invalid UTF-8 failed with no message). */
static bool name_ok(const char *name, const char *what, struct err *e)
{
    size_t n = strlen(name);
    if (n == 0 || n > CONFIG_NAME_MAX) {
        err_set(e, ERR_INVALID_VALUE, "name", "a %s name must be 1 to %d bytes", what,
                CONFIG_NAME_MAX);
        return false;
    }
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = text_utf8_decode((const unsigned char *)name + i, n - i, &cp);
        if (len == 0 || cp < 0x20 || cp == 0x7f) {
            err_set(e, ERR_INVALID_VALUE, "name",
                    "a %s name must be UTF-8 text without control characters", what);
            return false;
        }
        i += len;
    }
    if (isspace((unsigned char)name[0]) || isspace((unsigned char)name[n - 1])) {
        err_set(e, ERR_INVALID_VALUE, "name", "a %s name must not start or end with a space",
                what);
        return false;
    }
    return true;
}

/* #RRGGBB, as the default priorities' colors */
static bool color_ok(const char *c)
{
    if (strlen(c) != 7 || c[0] != '#')
        return false;
    for (int i = 1; i < 7; i++)
        if (!isxdigit((unsigned char)c[i]))
            return false;
    return true;
}

static const json_t *append(json_t *cfg, const char *list, json_t *item)
{
    json_array_append_new(json_object_get(cfg, list), item);
    return item;
}

const json_t *config_add_status(json_t *cfg, const char *name, const char *category, bool active,
                                struct err *e)
{
    bool known = false;
    for (size_t i = 0; i < sizeof categories / sizeof categories[0]; i++)
        known = known || strcmp(categories[i], category) == 0;
    if (!known) {
        err_set(e, ERR_INVALID_VALUE, "category",
                "status category must be open, inProgress, resolved or closed");
        return NULL;
    }
    if (!name_ok(name, "status", e))
        return NULL;
    const json_t *same = config_status_by_name(cfg, name);
    if (same) {
        /* named: names match case- and separator-blind ("In Progress" is In-Progress) */
        err_set(e, ERR_INVALID_VALUE, "name", "%s matches the status \"%s\", which exists already",
                name, json_string_value(json_object_get(same, "name")));
        return NULL;
    }
    return append(cfg, "statuses", status_new(name, category, false, active));
}

const json_t *config_add_priority(json_t *cfg, const char *name, int score, const char *color,
                                  bool active, struct err *e)
{
    if (score < 1 || score > 15) {
        err_set(e, ERR_INVALID_VALUE, "score", "priority score must be 1 to 15");
        return NULL;
    }
    if (color && !color_ok(color)) {
        err_set(e, ERR_INVALID_VALUE, "color", "priority color must be #RRGGBB (hex digits)");
        return NULL;
    }
    if (!name_ok(name, "priority", e))
        return NULL;
    const json_t *same = config_priority_by_name(cfg, name);
    if (same) {
        /* named: names match case- and separator-blind ("In Progress" is In-Progress) */
        err_set(e, ERR_INVALID_VALUE, "name",
                "%s matches the priority \"%s\", which exists already", name,
                json_string_value(json_object_get(same, "name")));
        return NULL;
    }
    return append(cfg, "priorities", priority_new(name, color ? color : "#6B7280", score, false,
                                                  active));
}

/* Whether fields has one whose metaData.name is name as names match (config_name_key: Title and
 * title, due_date and Due-Date are one), the system fields' too. */
static bool field_named(const json_t *fields, const char *name)
{
    char key[CONFIG_NAME_KEY_MAX], other[CONFIG_NAME_KEY_MAX];
    config_name_key(name, key);
    size_t i;
    const json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *n = json_string_value(json_object_get(json_object_get(f, "metaData"), "name"));
        if (!n)
            continue;
        config_name_key(n, other);
        if (strcmp(other, key) == 0)
            return true;
    }
    return false;
}

const json_t *config_add_template(json_t *cfg, enum doc_kind kind, const char *id,
                                  const char *name, const char *const *fields, size_t nfields,
                                  struct err *e)
{
    if (id && (!id_valid_segment(id, strlen(id)) || config_template(cfg, kind, id))) {
        err_set(e, ERR_INVALID_VALUE, "id", "template id %s is invalid or exists already", id);
        return NULL;
    }
    if (!name_ok(name, "template", e))
        return NULL;
    const json_t *same = by_name(json_object_get(cfg, templates_member(kind)), name);
    if (same) {
        err_set(e, ERR_INVALID_VALUE, "name",
                "%s matches the %s template \"%s\", which exists already", name,
                kind == DOC_CASE ? "case" : "task",
                json_string_value(json_object_get(same, "name")));
        return NULL;
    }
    json_t *t = template_new(kind, id, name, false);
    json_t *list = json_object_get(t, "fields");
    for (size_t i = 0; i < nfields; i++) {
        char spec[256], *save = NULL;
        snprintf(spec, sizeof spec, "%s", fields[i]);
        char *fname = strtok_r(spec, ":", &save);
        char *widget = strtok_r(NULL, ":", &save);
        char *req = strtok_r(NULL, ":", &save);
        char *extra = strtok_r(NULL, ":", &save);
        json_t *f = NULL;
        if (strlen(fields[i]) >= sizeof spec || (fname && strlen(fname) > CONFIG_NAME_MAX)) {
            json_decref(t);
            err_set(e, ERR_INVALID_VALUE, "field",
                    "a field spec is at most %zu bytes, its name %d", sizeof spec - 1,
                    CONFIG_NAME_MAX);
            return NULL;
        }
        if (fname && !name_ok(fname, "field", e)) {
            json_decref(t);
            return NULL;
        }
        if (fname && field_named(list, fname)) {
            /* fields are set and filtered by name: a second one of a name could not be */
            err_set(e, ERR_INVALID_VALUE, "field", "the template has a field named \"%s\" already",
                    fname);
            json_decref(t);
            return NULL;
        }
        if (fname && widget && !extra && (!req || strcmp(req, "required") == 0))
            f = field_new(fname, fname, widget, req != NULL, false);
        if (!f) {
            json_decref(t);
            err_set(e, ERR_INVALID_VALUE, "field",
                    "field \"%s\" must be name:type[:required], type one of input, textarea, "
                    "datetime, number, checkbox",
                    fields[i]);
            return NULL;
        }
        json_array_append_new(list, f);
    }
    return append(cfg, templates_member(kind), t);
}
