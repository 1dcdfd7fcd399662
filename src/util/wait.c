#include "util/wait.h"

#include <stddef.h>

static _Thread_local const struct wait_hooks *hooks;

void wait_hooks_set(const struct wait_hooks *h)
{
    hooks = h;
}

void wait_enter(void)
{
    if (hooks && hooks->enter)
        hooks->enter(hooks->arg);
}

void wait_leave(void)
{
    if (hooks && hooks->leave)
        hooks->leave(hooks->arg);
}
