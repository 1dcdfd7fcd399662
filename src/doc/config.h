/* config — a stream's configuration (API.md §4): statuses, priorities and templates as one JSON
 * document {"statuses":[…],"priorities":[…],"caseTemplates":[…],"taskTemplates":[…]}, its
 * defaults, and the lookups creates and updates resolve names and ids with. */
#ifndef CASEMGR_DOC_CONFIG_H
#define CASEMGR_DOC_CONFIG_H

#include <jansson.h>
#include <stdbool.h>

#include "doc/schema.h"
#include "util/error.h"

#define CONFIG_NAME_KEY_MAX 512 /* a 200-byte name lower-cased grows by half at most */

/* A new default configuration with fresh ids (caller decrefs). */
json_t *config_default(void);

/* Name matching of API.md §4: lower-case (Unicode simple lower-casing, as a record's lname),
 * with ' ', '-' and '_' alike. Writes at most CONFIG_NAME_KEY_MAX bytes including the NUL. */
void config_name_key(const char *name, char out[CONFIG_NAME_KEY_MAX]);

/* Resolves a status or priority object a client sent ({_id} and/or {name}) to the stream's own
 * object (borrowed from cfg): by _id when it is one of the stream's, else by name. Refuses
 * (400 naming member, listing the valid names) unknown or inactive ones. */
const json_t *config_resolve_status(const json_t *cfg, const json_t *given, struct err *e);
const json_t *config_resolve_priority(const json_t *cfg, const json_t *given, struct err *e);
/* The stream's status/priority named name (matched as above), or NULL; borrowed. */
const json_t *config_status_by_name(const json_t *cfg, const char *name);
const json_t *config_priority_by_name(const json_t *cfg, const char *name);
/* Every status (member "statuses") or priority ("priorities") of cfg that name matches, in
 * order: at most max into out, and how many there are. One, unless an older casemgr stored names
 * that differ only in case (Über and über), which a filter by either name both means. */
size_t config_all_by_name(const json_t *cfg, const char *member, const char *name,
                          const json_t **out, size_t max);
/* The template of kind with _id id, or NULL (borrowed). Inactive templates are returned too. */
const json_t *config_template(const json_t *cfg, enum doc_kind kind, const char *id);
/* Like config_template but refuses unknown or inactive templates with 400 naming member. */
const json_t *config_template_or_err(const json_t *cfg, enum doc_kind kind, const char *id,
                                     const char *member, struct err *e);

/* Whether a field of a kind's template (any, active or not) with _id field, or with metaData.name
 * field when by_name, has dataType datetime. */
bool config_field_is_datetime(const json_t *cfg, enum doc_kind kind, bool by_name,
                              const char *field);

/* Administration (API.md §9). Each appends to cfg and returns the new object (borrowed), or
 * NULL with *e (duplicate name or id, bad value). */
const json_t *config_add_status(json_t *cfg, const char *name, const char *category, bool active,
                                struct err *e);
const json_t *config_add_priority(json_t *cfg, const char *name, int score, const char *color,
                                  bool active, struct err *e);
/* fields: "name:type[:required]" specs, type one of input, textarea, datetime, number, checkbox.
 * id NULL generates one (ctm-/ttm-). */
const json_t *config_add_template(json_t *cfg, enum doc_kind kind, const char *id,
                                  const char *name, const char *const *fields, size_t nfields,
                                  struct err *e);

#endif
