/* record — the indexed columns of a stored case or task, derived from its document. */
#ifndef CASEMGR_DOC_RECORD_H
#define CASEMGR_DOC_RECORD_H

#include <jansson.h>

#include "doc/schema.h"
#include "store/store.h"

/* Fills r's columns and values from doc (strings borrowed from doc, which must outlive r; the
 * values are a heap string); r->doc NULL. Release with doc_record_cleanup. */
void doc_record_columns(const json_t *doc, enum doc_kind kind, struct store_record *r);
/* doc_record_columns, then serialises doc into r->doc (heap; free with doc_record_cleanup). */
void doc_record_from(const json_t *doc, enum doc_kind kind, struct store_record *r);
/* Frees what doc_record_columns, doc_record_from or store_record_get allocated. */
void doc_record_cleanup(struct store_record *r);

#endif
