/* walbuf — a VFS over SQLite's default one that hands the WAL frames of a commit to the kernel in
 * one write.
 *
 * SQLite writes each WAL frame as two writes, its 24-byte header and then its page, so a commit
 * of n pages costs 2n pwrite calls, each 4 KB one straddling two page-cache pages (the frames are
 * 4,120 bytes). Under the durable-update bench that was 7.7 calls and half the writer thread's
 * CPU an update. Here the writes of a WAL that follow one another in the file are gathered in a
 * buffer and written with one call (or one per 128 KiB, the most SQLite's unix VFS writes at once)
 * when the commit's last frame (the one whose header carries the database size) is complete, before SQLite publishes the commit in the wal-index, so no other
 * connection can see a frame that is not in the file, and the syncer's fdatasync (after the
 * commit returned) covers every byte. Anything else done to a WAL file with bytes held (a read,
 * a sync, its size, a truncation, a write elsewhere, a file control, closing it) writes them
 * first, so the file reads as if every write had gone straight through. Other files (the
 * database, journals, temporary files) pass straight through. */
#ifndef CASEMGR_STORE_WALBUF_H
#define CASEMGR_STORE_WALBUF_H

#include <stddef.h>

/* Registers the VFS "casemgr-walbuf" over the default VFS of the moment and makes it the default,
 * once per process (later calls do nothing); connections opened after it use it. 0, or -1 if
 * SQLite refused. */
int walbuf_install(void);

/* Write calls made to WAL files by this process so far, and writes that reached the underlying
 * VFS (for tests and figures). */
struct walbuf_counts {
    size_t writes_in, writes_out;
};
struct walbuf_counts walbuf_counts(void);

#endif
