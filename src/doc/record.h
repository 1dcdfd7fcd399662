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
/* doc_record_from, copying the texts known notes for doc's members, and noting there the text of
 * each member in r->doc (jtext_dump_known): for an update, whose activity holds some of them. */
struct jtext_known;
void doc_record_from_known(const json_t *doc, enum doc_kind kind, struct jtext_known *known,
                           struct store_record *r);
/* Copies the strings r borrows from its document into r->strings, so the document can go at
 * once: on the thread that built it, while it is in that core's cache, and before the next one
 * reuses its memory. Freeing documents later on another thread cost more than building them
 * (the seeder: 200,000 tasks took 22.4 s of user CPU instead of 13.9 s; an update's documents
 * freed on an I/O thread after its commit: 0.025 ms more CPU a request). */
void doc_record_detach(struct store_record *r);
/* Frees what doc_record_columns, doc_record_from, doc_record_detach or store_record_get
 * allocated. */
void doc_record_cleanup(struct store_record *r);

#endif
