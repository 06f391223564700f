/* A ps-like table of this machine through libprocuring.
 *
 *   ps            print the table, the engine that ran and the scan time
 *   ps --check    scan with both engines, check this process is found with sane values, print
 *                 nothing but errors (exit status 1 on failure); run by `make test` and valgrind
 */
#define _POSIX_C_SOURCE 200809L
#include <procuring.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Prints `s` from the arena with NULs shown as spaces and control bytes as '?', cut at `max`. */
static void print_text(const uint8_t *arena, procuring_str s, size_t max) {
    size_t n = s.len;
    while (n > 0 && (arena[s.off + n - 1] == 0 || arena[s.off + n - 1] == '\n')) n--;
    for (size_t i = 0; i < n && i < max; i++) {
        uint8_t c = arena[s.off + i];
        putchar(c == 0 ? ' ' : (c < 32 || c == 127) ? '?' : c);
    }
}

static int open_scanner(uint32_t engine, uint32_t identity_cache, procuring_scanner **s) {
    procuring_options o;
    procuring_options_init(&o);
    o.engine = engine;
    o.identity_cache = identity_cache; /* 0 (default): comm and cmdline read in every scan */
    o.files = (1u << PROCURING_FILE_STAT) | (1u << PROCURING_FILE_STATUS) | (1u << PROCURING_FILE_COMM) |
              (1u << PROCURING_FILE_CMDLINE);
    int rc = procuring_scanner_new(&o, s);
    if (rc != PROCURING_OK) fprintf(stderr, "procuring_scanner_new: %d: %s\n", rc, procuring_last_error());
    return rc;
}

static int check(uint32_t engine, uint32_t identity_cache) {
    char comm[64] = {0};
    FILE *f = fopen("/proc/self/comm", "r");
    size_t comm_len = f ? fread(comm, 1, sizeof comm - 1, f) : 0;
    if (f) fclose(f);
    procuring_scanner *s = NULL;
    int rc = open_scanner(engine, identity_cache, &s);
    if (rc == PROCURING_ERR_URING_UNAVAILABLE) return 0; /* refused here: nothing to check */
    if (rc != PROCURING_OK) return 1;
    int bad = 0;
    for (int round = 0; round < 3 && !bad; round++) {
        if ((rc = procuring_scan(s)) != PROCURING_OK) {
            fprintf(stderr, "procuring_scan: %d: %s\n", rc, procuring_last_error());
            bad = 1;
            break;
        }
        procuring_snapshot snap;
        procuring_snapshot_get(s, &snap);
        const procuring_record *me = NULL;
        for (size_t i = 0; i < snap.count; i++) {
            if (i > 0 && snap.records[i].pid <= snap.records[i - 1].pid) {
                fprintf(stderr, "records not ascending at %zu\n", i);
                bad = 1;
            }
            if (snap.records[i].pid == getpid()) me = &snap.records[i];
        }
        /* R, or S under io_uring: this thread sleeps in io_uring_enter while io-wq reads. */
        if (!me || !(me->read_mask & (1u << PROCURING_FILE_STAT)) || (me->state != 'R' && me->state != 'S') ||
            me->stat.ppid != getppid() || me->status.tgid != getpid() || me->status.vm_rss == 0 ||
            me->comm.len != comm_len || memcmp(snap.arena + me->comm.off, comm, comm_len) != 0) {
            fprintf(stderr, "%s: own process missing or wrong in round %d\n", procuring_engine_name(s), round);
            bad = 1;
        }
        if (snap.stats.returned != snap.count) bad = 1;
        /* Exact by default: nothing served from a cache. With the cache: from the third scan
         * (values are cached when read after a stat of an earlier scan). */
        if (identity_cache ? (round == 2 && snap.stats.cached == 0) : snap.stats.cached != 0) {
            fprintf(stderr, "%s: %u cached identity files in round %d (identity_cache %u)\n",
                    procuring_engine_name(s), snap.stats.cached, round, identity_cache);
            bad = 1;
        }
    }
    /* The flat walk (procuring_walk_stat): the bpf engine's stat into our arrays, sized by
     * a first call with none; the other engines refuse it. */
    size_t n = 0, arena_len = 0;
    const uint8_t *arena = NULL;
    rc = procuring_walk_stat(s, NULL, NULL, 0, &n, &arena, &arena_len, NULL);
    if (strcmp(procuring_engine_name(s), "bpf") != 0) {
        if (rc != PROCURING_ERR_INVALID_ARG) {
            fprintf(stderr, "%s: procuring_walk_stat: %d, want invalid argument\n", procuring_engine_name(s), rc);
            bad = 1;
        }
    } else if (rc != PROCURING_ERR_BUFFER_TOO_SMALL || n == 0) {
        fprintf(stderr, "procuring_walk_stat with no room: %d, %zu processes\n", rc, n);
        bad = 1;
    } else {
        size_t cap = n + 64, stat_comm_len = comm_len > 0 ? comm_len - 1 : 0; /* no newline */
        procuring_stat_head *heads = calloc(cap, sizeof *heads);
        procuring_stat *stats = calloc(cap, sizeof *stats);
        procuring_scan_stats st;
        int found = 0;
        rc = heads && stats ? procuring_walk_stat(s, heads, stats, cap, &n, &arena, &arena_len, &st) : -1;
        for (size_t i = 0; rc == PROCURING_OK && i < n; i++)
            if (heads[i].pid == getpid())
                found = heads[i].state == 'R' && stats[i].ppid == getppid() &&
                        stats[i].comm.len == stat_comm_len &&
                        memcmp(arena + stats[i].comm.off, comm, stat_comm_len) == 0;
        if (rc != PROCURING_OK || !found || st.returned != n) {
            fprintf(stderr, "procuring_walk_stat: %d, own process %s\n", rc, found ? "found" : "missing or wrong");
            bad = 1;
        }
        free(heads);
        free(stats);
    }
    procuring_scanner_free(s);
    return bad;
}

int main(int argc, char **argv) {
    if (procuring_abi_version() != PROCURING_ABI_VERSION) {
        fprintf(stderr, "libprocuring ABI %u, header %u\n", procuring_abi_version(), PROCURING_ABI_VERSION);
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "--check") == 0) {
        int bad = 0;
        for (uint32_t cache = 0; cache < 2; cache++)
            bad |= check(PROCURING_ENGINE_SYNC, cache) | check(PROCURING_ENGINE_URING, cache) |
                   check(PROCURING_ENGINE_AUTO, cache);
        return bad;
    }
    procuring_scanner *s = NULL;
    if (open_scanner(PROCURING_ENGINE_AUTO, 0, &s) != PROCURING_OK) return 1;
    double t0 = now_ms();
    if (procuring_scan(s) != PROCURING_OK) {
        fprintf(stderr, "procuring_scan: %s\n", procuring_last_error());
        procuring_scanner_free(s);
        return 1;
    }
    double first = now_ms() - t0;
    t0 = now_ms();
    procuring_scan(s); /* steady state: held fds; comm and cmdline read again (exact) */
    double second = now_ms() - t0;
    procuring_snapshot snap;
    procuring_snapshot_get(s, &snap);
    long tick = sysconf(_SC_CLK_TCK), page_kb = sysconf(_SC_PAGESIZE) / 1024;
    printf("%7s %s %4s %9s %9s  %-16s %s\n", "PID", "S", "THR", "RSS(KiB)", "CPU(s)", "COMM", "CMDLINE");
    for (size_t i = 0; i < snap.count; i++) {
        const procuring_record *r = &snap.records[i];
        printf("%7d %c %4lld %9lld %9.2f  ", r->pid, r->state ? r->state : '?', (long long)r->stat.num_threads,
               (long long)r->stat.rss * page_kb, (double)(r->stat.utime + r->stat.stime) / tick);
        printf("%-16.*s ", (int)(r->comm.len ? r->comm.len - 1 : 0), (const char *)snap.arena + r->comm.off);
        if (r->cmdline.len) print_text(snap.arena, r->cmdline, 80);
        else { putchar('['); print_text(snap.arena, r->stat.comm, 16); putchar(']'); }
        putchar('\n');
    }
    printf("\n%u processes, engine %s (%s)\n", snap.stats.returned, procuring_engine_name(s), procuring_engine_reason(s));
    printf("first scan %.2f ms, second scan %.2f ms (%u held fds, %u cached identity files, %u vanished, %s)\n",
           first, second, snap.stats.held_fds, snap.stats.cached, snap.stats.vanished,
           snap.stats.list_reused ? "pid list kept: no process created since the first scan" : "listed /proc again");
    procuring_scanner_free(s);
    return 0;
}
