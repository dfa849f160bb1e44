/*
 * xsping: a request/response probe through xenstore, for `cargo xtask e2e --scenarios spare`.
 * Each request and each answer is an event-channel notification between dom0's xenstored
 * and the guest (the emulated machine has no network device).
 *
 *   xsping serve                          (in a guest, started by its /init)
 *   xsping probe DOMID SECONDS SEED       (in dom0)
 *
 * serve: forks the guest's batch work, a loop counting its iterations in a shared page
 * (at SCHED_IDLE, so the guest's own I/O path never waits behind it), then, under SCHED_FIFO (so it preempts the loop as soon as the guest runs), watches its
 * domain's `data/ping` through the guest kernel's xenstore device (/dev/xen/xenbus) and
 * answers every change (one watch event each) with one write of "<changes seen>
 * <iterations> <ns>" to `data/pong` (ns: from the watch event's arrival in the responder to
 * the write, guest clock): one notification in, one out, as a ping answered by a kernel.
 *
 * probe: over xenstored's socket, watches /local/domain/DOMID/data/pong; for SECONDS of
 * CLOCK_MONOTONIC, waits a random gap (uniform 20-120 ms after the previous answer,
 * from SEED), writes `data/ping` = n and takes the time from just before the write to
 * the arrival of the pong watch event that answers it: one request is in flight at a time,
 * and an answer counts only if the guest's count of changes moved on from the last answer
 * taken (read after the event, not timed). A probe unanswered after 2 s is a timeout;
 * after one, answers are drained for 2 s and the count taken again. Then prints, one line
 * each:
 *
 *   XSPING n=N timeouts=T
 *   XSPING <n> <start ms> <response ns> <iterations> <guest ns>  (a timeout: response -1)
 *
 * (start: the request's time from the first request; iterations and guest ns: from the
 * answer.) Exits non-zero if xenstore cannot be reached.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* xenstore's wire protocol (xen/include/public/io/xs_wire.h). */
struct xsd_sockmsg {
    uint32_t type, req_id, tx_id, len;
};
enum { XS_READ = 2, XS_WATCH = 4, XS_WRITE = 11, XS_WATCH_EVENT = 15, XS_ERROR = 16 };
#define XS_PAYLOAD_MAX 4096
#define MAX_PROBES 4096
#define TIMEOUT_NS 2000000000LL

static int fd = -1;

static int64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "xsping: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void io_all(int write_, void *p, size_t n)
{
    char *c = p;

    while (n) {
        ssize_t r = write_ ? write(fd, c, n) : read(fd, c, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die(write_ ? "write" : "read");
        c += r;
        n -= (size_t)r;
    }
}

/* Sends one message: `a` (with its NUL where the protocol wants one) then `b`. */
static void xs_send(uint32_t type, uint32_t req, const char *a, size_t alen, const char *b,
                    size_t blen)
{
    char m[sizeof(struct xsd_sockmsg) + XS_PAYLOAD_MAX];
    struct xsd_sockmsg h = { type, req, 0, (uint32_t)(alen + blen) };

    if (alen + blen > XS_PAYLOAD_MAX)
        exit(2);
    memcpy(m, &h, sizeof h);
    memcpy(m + sizeof h, a, alen);
    if (blen)
        memcpy(m + sizeof h + alen, b, blen);
    /* One write: the guest's xenbus device takes a message per write. */
    io_all(1, m, sizeof h + alen + blen);
}

/* Waits until `deadline` (ns, < 0: forever) for a message; 0 on timeout, else 1. */
static int xs_recv(struct xsd_sockmsg *h, char *payload, int64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    for (;;) {
        int ms = -1;

        if (deadline >= 0) {
            int64_t left = deadline - now_ns();

            if (left <= 0)
                return 0;
            ms = (int)((left + 999999) / 1000000);
        }
        int r = poll(&p, 1, ms);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("poll");
        if (r > 0)
            break;
    }
    io_all(0, h, sizeof *h);
    if (h->len > XS_PAYLOAD_MAX)
        exit(3);
    io_all(0, payload, h->len);
    payload[h->len] = 0;
    return 1;
}

/* A request and its reply (watch events meanwhile are counted in *events). */
static int xs_call(uint32_t type, uint32_t req, const char *a, size_t alen, const char *b,
                   size_t blen, char *reply, int *events)
{
    struct xsd_sockmsg h;

    xs_send(type, req, a, alen, b, blen);
    for (;;) {
        if (!xs_recv(&h, reply, now_ns() + TIMEOUT_NS))
            return -1;
        if (h.type == XS_WATCH_EVENT) {
            if (events)
                (*events)++;
            continue;
        }
        if (h.req_id == req)
            return h.type == XS_ERROR ? -1 : 0;
    }
}

static int serve(void)
{
    static char reply[XS_PAYLOAD_MAX + 1];
    volatile uint64_t *iters = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct sched_param sp = { .sched_priority = 50 };
    struct xsd_sockmsg h;
    uint32_t req = 1;
    int events = 0;

    if (iters == MAP_FAILED)
        die("mmap");
    pid_t pid = fork();

    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /*
         * The batch work at the guest's idle priority: any other guest thread (the
         * kernel's xenbus threads, this responder) preempts it as soon as it wakes. At
         * SCHED_OTHER the guest's own scheduler kept them waiting behind the loop for
         * 5.6 ms per request (measured), longer than a spare's budget.
         */
        struct sched_param idle = { .sched_priority = 0 };

        if (sched_setscheduler(0, SCHED_IDLE, &idle))
            die("sched_setscheduler(SCHED_IDLE)");
        for (;;)
            (*iters)++;
    }
    if (sched_setscheduler(0, SCHED_FIFO, &sp))
        die("sched_setscheduler");
    fd = open("/dev/xen/xenbus", O_RDWR);
    if (fd < 0)
        die("/dev/xen/xenbus");
    if (xs_call(XS_WATCH, req++, "data/ping", 10, "p", 2, reply, &events))
        die("watch data/ping");
    printf("XSPING serving\n");
    fflush(stdout);
    /* Every change of data/ping is one watch event, answered by one write (its reply,
     * like the others, is read and skipped here). */
    for (uint64_t seen = (uint64_t)events;;) {
        if (!xs_recv(&h, reply, -1) || h.type != XS_WATCH_EVENT)
            continue;
        int64_t t_event = now_ns();
        char pong[96];
        int n = snprintf(pong, sizeof pong, "%llu %llu", (unsigned long long)++seen,
                         (unsigned long long)*iters);

        n += snprintf(pong + n, sizeof pong - (size_t)n, " %lld",
                      (long long)(now_ns() - t_event));
        xs_send(XS_WRITE, req++, "data/pong", 10, pong, (size_t)n);
    }
    return 0;
}

struct probe {
    int64_t start, resp;
    unsigned long long iters;
    long long guest;
};

static int probe(const char *dom, int seconds, unsigned seed)
{
    static char reply[XS_PAYLOAD_MAX + 1];
    static struct probe out[MAX_PROBES];
    static const char *socks[] = { "/var/run/xenstored/socket", "/run/xenstored/socket" };
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char ping[64], pong[64];
    int lping = snprintf(ping, sizeof ping, "/local/domain/%s/data/ping", dom) + 1;
    int lpong = snprintf(pong, sizeof pong, "/local/domain/%s/data/pong", dom) + 1;
    uint32_t req = 1;
    int n = 0, timeouts = 0;
    uint64_t rng = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    struct xsd_sockmsg h;
    unsigned i;

    for (i = 0; i < 2 && fd < 0; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        strncpy(sa.sun_path, socks[i], sizeof sa.sun_path - 1);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0)
        die("xenstored socket");
    if (xs_call(XS_WATCH, req++, pong, (size_t)lpong, "q", 2, reply, NULL))
        die("watch pong");
    /* The watch fires once when set: drain it, and take the guest's count of changes. */
    while (xs_recv(&h, reply, now_ns() + 200000000LL))
        ;
    unsigned long long last = 0;

    if (!xs_call(XS_READ, req++, pong, (size_t)lpong, NULL, 0, reply, NULL))
        sscanf(reply, "%llu", &last);
    int64_t t_first = -1, end = now_ns() + (int64_t)seconds * 1000000000;

    while (n < MAX_PROBES) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t gap = 20000000 + (int64_t)((rng >> 33) % 100000001);
        struct timespec ts = { gap / 1000000000, gap % 1000000000 };

        if (now_ns() + gap >= end)
            break;
        nanosleep(&ts, NULL);
        char val[16];
        int lval = snprintf(val, sizeof val, "%d", n);
        int64_t t0 = now_ns(), t1 = -1;
        unsigned long long it = 0;
        long long guest = -1;

        if (t_first < 0)
            t_first = t0;
        xs_send(XS_WRITE, req++, ping, (size_t)lping, val, (size_t)lval);
        while (t1 < 0) {
            if (!xs_recv(&h, reply, t0 + TIMEOUT_NS))
                break;
            if (h.type != XS_WATCH_EVENT)
                continue; /* the write's reply */
            int64_t t = now_ns();
            unsigned long long seen = 0;

            /* Does it answer this request? (Not timed.) */
            if (xs_call(XS_READ, req++, pong, (size_t)lpong, NULL, 0, reply, NULL))
                continue;
            if (sscanf(reply, "%llu %llu %lld", &seen, &it, &guest) == 3 && seen > last) {
                last = seen;
                t1 = t;
            }
        }
        if (t1 < 0) {
            /* A late answer must not pass for the next one's. */
            while (xs_recv(&h, reply, now_ns() + TIMEOUT_NS))
                ;
            if (!xs_call(XS_READ, req++, pong, (size_t)lpong, NULL, 0, reply, NULL))
                sscanf(reply, "%llu", &last);
        }
        out[n].start = t0 - t_first;
        out[n].resp = t1 < 0 ? -1 : t1 - t0;
        out[n].iters = it;
        out[n].guest = guest;
        timeouts += t1 < 0;
        n++;
    }
    printf("XSPING n=%d timeouts=%d\n", n, timeouts);
    for (i = 0; i < (unsigned)n; i++)
        printf("XSPING %u %lld %lld %llu %lld\n", i, (long long)(out[i].start / 1000000),
               (long long)out[i].resp, out[i].iters, out[i].guest);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "serve"))
        return serve();
    if (argc == 5 && !strcmp(argv[1], "probe"))
        return probe(argv[2], atoi(argv[3]), (unsigned)strtoul(argv[4], NULL, 10));
    fprintf(stderr, "usage: xsping serve | xsping probe DOMID SECONDS SEED\n");
    return 2;
}
