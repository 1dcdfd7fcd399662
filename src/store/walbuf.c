/* walbuf — see walbuf.h. The WAL format (sqlite.org/fileformat2.html §4.1): a 32-byte file header,
 * then frames of a 24-byte header and one page; bytes 4-7 of a frame header hold the database
 * size in pages for the last frame of a commit and 0 in every other frame. SQLite's walFrames
 * writes a commit's frames in file order, header then page, and publishes the commit afterwards. */
#include "store/walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_HEADER 24       /* bytes of a frame's header */
/* Bytes held at most. SQLite's unix VFS writes at most 128 KiB - 1 in one call (unixWrite masks
 * the size with 0x1ffff, and a size whose remainder is 0 after that fails with SQLITE_FULL). */
#define BUF_MAX (128 * 1024 - 1)

struct wb_file {
    sqlite3_file base;  /* pMethods: wb_io, or NULL if the underlying open failed */
    sqlite3_file *real; /* the underlying VFS's file, right after this struct */
    bool wal;
    /* WAL files only: bytes [off, off + len) written to us and not yet to real */
    unsigned char *buf; /* BUF_MAX bytes, allocated on the first write */
    size_t len;
    sqlite3_int64 off;
    /* where the page of the commit header written last goes (-1: the last write was no
     * commit header): writing it completes the commit */
    sqlite3_int64 commit_page_at;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs wb_vfs;
static sqlite3_io_methods wb_io;
static atomic_size_t writes_in, writes_out;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((struct wb_file *)f)->real;
}

/* Writes the held bytes to the underlying file; they are dropped either way (SQLite sees the
 * error and abandons the transaction, as if the write itself had failed). */
static int flush(struct wb_file *p)
{
    if (p->len == 0)
        return SQLITE_OK;
    int rc = p->real->pMethods->xWrite(p->real, p->buf, (int)p->len, p->off);
    atomic_fetch_add_explicit(&writes_out, 1, memory_order_relaxed);
    p->len = 0;
    return rc;
}

static int flushed(sqlite3_file *f)
{
    struct wb_file *p = (struct wb_file *)f;
    return p->wal ? flush(p) : SQLITE_OK;
}

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void hold(struct wb_file *p, const void *data, size_t n, sqlite3_int64 off)
{
    if (p->len == 0)
        p->off = off;
    memcpy(p->buf + p->len, data, n);
    p->len += n;
}

static int write_through(struct wb_file *p, const void *data, int amt, sqlite3_int64 off)
{
    atomic_fetch_add_explicit(&writes_out, 1, memory_order_relaxed);
    return p->real->pMethods->xWrite(p->real, data, amt, off);
}

static int wb_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    struct wb_file *p = (struct wb_file *)f;
    if (!p->wal)
        return p->real->pMethods->xWrite(p->real, data, amt, off);
    atomic_fetch_add_explicit(&writes_in, 1, memory_order_relaxed);
    size_t n = (size_t)amt;
    bool completes = off == p->commit_page_at; /* the page of a commit's last frame */
    bool commit_header = n == FRAME_HEADER && get32((const unsigned char *)data + 4) != 0;
    p->commit_page_at = commit_header ? off + FRAME_HEADER : -1;
    if (p->len > 0 && (off != p->off + (sqlite3_int64)p->len || p->len + n > BUF_MAX)) {
        int rc = flush(p);
        if (rc != SQLITE_OK)
            return rc;
    }
    /* The buffer comes with the first write, inside sqlite3_step: without it, writes go through
     * one by one, as SQLite's own VFS writes them (a failed allocation is no error, and no
     * abort: 43-sqlite-faults injects one there). Held bytes imply a buffer. */
    if (!p->buf && !(p->buf = malloc(BUF_MAX)))
        return write_through(p, data, amt, off);
    /* Nothing a commit needs is left held: its last page goes out with what came before it.
     * A commit header that starts a run goes out at once: it may have no page after it
     * (walRewriteChecksums rewrites headers alone, after the commit's frames were written). */
    if (completes || (commit_header && p->len == 0) || n > BUF_MAX) {
        if (p->len == 0)
            return write_through(p, data, amt, off);
        hold(p, data, n, off);
        return flush(p);
    }
    hold(p, data, n, off);
    return SQLITE_OK;
}

static int wb_close(sqlite3_file *f)
{
    struct wb_file *p = (struct wb_file *)f;
    int rc = flushed(f);
    int rc2 = p->real->pMethods->xClose(p->real);
    free(p->buf);
    p->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 off)
{
    int rc = flushed(f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xRead(real_of(f), out, amt, off);
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flushed(f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
    int rc = flushed(f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int wb_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flushed(f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int wb_fcntl(sqlite3_file *f, int op, void *arg)
{
    int rc = flushed(f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int wb_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int wb_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int wb_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wb_device(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

/* The wal-index (shared memory) and memory-mapped reads belong to the database file, untouched. */
static int wb_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}

static int wb_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int wb_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out)
{
    sqlite3_file *r = real_of(f);
    if (r->pMethods->iVersion < 3) {
        *out = NULL;
        return SQLITE_OK;
    }
    return r->pMethods->xFetch(r, off, amt, out);
}

static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *page)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods->iVersion < 3 ? SQLITE_OK : r->pMethods->xUnfetch(r, off, page);
}

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                   int *out_flags)
{
    (void)vfs;
    struct wb_file *p = (struct wb_file *)f;
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)(p + 1);
    p->wal = (flags & SQLITE_OPEN_WAL) != 0;
    p->commit_page_at = -1;
    int rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set; the underlying file may need closing even
     * when its open failed (its pMethods then says so) */
    p->base.pMethods = p->real->pMethods ? &wb_io : NULL;
    return rc;
}

static void install(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs)
        return;
    /* The underlying VFS's own methods (delete, access, full path, randomness, time ...) are
     * called with our sqlite3_vfs: they read only pAppData and the fields copied here. */
    wb_vfs = *real_vfs;
    wb_vfs.zName = "casemgr-walbuf";
    wb_vfs.szOsFile = (int)sizeof(struct wb_file) + real_vfs->szOsFile;
    wb_vfs.pNext = NULL;
    wb_vfs.xOpen = wb_open;
    wb_io = (sqlite3_io_methods){
        .iVersion = 3, .xClose = wb_close, .xRead = wb_read, .xWrite = wb_write,
        .xTruncate = wb_truncate, .xSync = wb_sync, .xFileSize = wb_size, .xLock = wb_lock,
        .xUnlock = wb_unlock, .xCheckReservedLock = wb_check_reserved, .xFileControl = wb_fcntl,
        .xSectorSize = wb_sector_size, .xDeviceCharacteristics = wb_device,
        .xShmMap = wb_shm_map, .xShmLock = wb_shm_lock, .xShmBarrier = wb_shm_barrier,
        .xShmUnmap = wb_shm_unmap, .xFetch = wb_fetch, .xUnfetch = wb_unfetch};
    if (sqlite3_vfs_register(&wb_vfs, 1) != SQLITE_OK)
        real_vfs = NULL;
}

int walbuf_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install);
    return real_vfs ? 0 : -1;
}

struct walbuf_counts walbuf_counts(void)
{
    return (struct walbuf_counts){
        .writes_in = atomic_load_explicit(&writes_in, memory_order_relaxed),
        .writes_out = atomic_load_explicit(&writes_out, memory_order_relaxed)};
}
