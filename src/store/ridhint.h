/* ridhint — where a record's row is, by its id: a hint that spares a read the id index.
 *
 * A read of one record by id walks the records' id index to learn its rowid, then the records
 * row and the document by that rowid: three b-trees, and a reader's page cache starts empty
 * after every commit, so under writes each walk is read back from the kernel. A record's id
 * names the same rowid for as long as the database exists (records are never deleted, and a
 * rowid is not reused while its row is there), so once seen the rowid is kept here and the read
 * goes to the row directly. It is a hint only: the read keyed by it checks the row's id (and
 * tenant and kind, as every read does), and an absent or wrong hint costs the walk it would
 * have cost anyway. So slots are overwritten without ceremony: each holds one 64-bit word,
 * written and read atomically (24 bits of the id's hash and the rowid), in a table sized at
 * creation. Thread-safe, without locks. */
#ifndef CASEMGR_STORE_RIDHINT_H
#define CASEMGR_STORE_RIDHINT_H

#include <stddef.h>
#include <stdint.h>

struct ridhint;

/* A table of 2^bits slots (bits 10..26); its memory is touched as slots are used. */
struct ridhint *ridhint_new(unsigned bits);
void ridhint_free(struct ridhint *h);

/* The slots, for sizing a fill. */
size_t ridhint_slots(const struct ridhint *h);

/* Remembers that the record id is at rowid rid (1 .. 2^40-1; others are not kept). */
void ridhint_put(struct ridhint *h, const char *id, size_t id_len, int64_t rid);

/* The rowid the record id was last seen at, or 0 when there is no hint for it (its slot holds
 * another id's, or none). May be a rowid another id hashed alike was seen at: check the row. */
int64_t ridhint_get(const struct ridhint *h, const char *id, size_t id_len);

#endif
