#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void mem_oom(void)
{
    fputs("casemgr: out of memory\n", stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        mem_oom();
    return p;
}

void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        mem_oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        mem_oom();
    return q;
}

void *mem_try_realloc(void *p, size_t n)
{
    return realloc(p, n ? n : 1);
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xstrpack(const char **const *fields, size_t n)
{
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        if (*fields[i])
            size += strlen(*fields[i]) + 1;
    char *block = xmalloc(size), *p = block;
    for (size_t i = 0; i < n; i++) {
        if (!*fields[i])
            continue;
        size_t len = strlen(*fields[i]) + 1;
        memcpy(p, *fields[i], len);
        *fields[i] = p;
        p += len;
    }
    return block;
}

/* TCMalloc's C interface, when the program is linked with it (weak: absent otherwise) */
extern int MallocExtension_GetNumericProperty(const char *property, size_t *value)
    __attribute__((weak));
extern void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));

void mem_release_idle(size_t keep)
{
    size_t free_bytes = 0;
    if (!MallocExtension_GetNumericProperty || !MallocExtension_ReleaseFreeMemory)
        return;
    if (MallocExtension_GetNumericProperty("tcmalloc.pageheap_free_bytes", &free_bytes) &&
        free_bytes > keep)
        MallocExtension_ReleaseFreeMemory();
}
