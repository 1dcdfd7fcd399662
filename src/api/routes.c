/* routes — the route table (STYLE.md §4). Paths after API_BASE are the vendor's (API.md §1). */
#include "api/internal.h"
#include "ops/health.h"
#include "ops/metrics.h"

static const struct http_route routes[] = {
    {"POST", API_BASE "{}/createCase", "createCase", api_create_case, true, false, true, false},
    {"POST", API_BASE "{}/createTask", "createTask", api_create_task, true, false, true, false},
    {"POST", API_BASE "{}/updateCase/{}", "updateCase", api_update_case, true, false, true, false},
    {"POST", API_BASE "{}/updateTask/{}", "updateTask", api_update_task, true, false, true, false},
    {"POST", API_BASE "{}/getCases", "getCases", api_get_cases, true, false, true, true},
    {"POST", API_BASE "{}/getTasks", "getTasks", api_get_tasks, true, false, true, true},
    {"POST", API_BASE "{}/getActivities/{}", "getActivities", api_get_activities, true, false,
     false, false},
    {"GET", "/healthz", "healthz", health_live_handler, false, true, false, false},
    /* on a worker: with PostgreSQL its SELECT 1 is a round trip (up to 2 s), which on an I/O
     * thread held every connection of that thread, /healthz's too */
    {"GET", "/readyz", "readyz", health_ready_handler, false, false, false, false},
    {"GET", "/metrics", "metrics", metrics_handler, false, true, false, false},
};

const struct http_route *api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}
