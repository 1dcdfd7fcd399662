/* wait — a thread about to wait on something slow (a commit, its sync, the network) says so,
 * and the pool it belongs to can run another of its threads meanwhile (http/server caps how many
 * workers run at once). Hooks are per thread; without them the calls do nothing. */
#ifndef CASEMGR_UTIL_WAIT_H
#define CASEMGR_UTIL_WAIT_H

struct wait_hooks {
    void (*enter)(void *arg); /* the thread is about to wait */
    void (*leave)(void *arg); /* it runs again */
    void *arg;
};

/* Sets the calling thread's hooks (NULL: none). hooks must outlive the thread's waits. */
void wait_hooks_set(const struct wait_hooks *hooks);
void wait_enter(void);
void wait_leave(void);

#endif
