/* Per-event overhead workload for bench/run.py.
 *
 *   loop syscall N   call getppid() N times
 *   loop uprobe N    call bench_target() N times (a uprobe target)
 *
 * Prints the mean nanoseconds per call, first of CPU time
 * (CLOCK_PROCESS_CPUTIME_ID: user + kernel time of this process, so time
 * spent by other processes on a busy machine is left out; probe handlers run
 * in this process's context and are included), then of wall time
 * (CLOCK_MONOTONIC).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

__attribute__((noinline, used)) long bench_target(long x)
{
    __asm__ volatile("" : "+r"(x));
    return x + 1;
}

static double now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s syscall|uprobe N\n", argv[0]);
        return 2;
    }
    long n = atol(argv[2]);
    long acc = 0;
    double c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    double t0 = now_ns(CLOCK_MONOTONIC);
    if (strcmp(argv[1], "syscall") == 0) {
        for (long i = 0; i < n; i++)
            acc += syscall(SYS_getppid);
    } else if (strcmp(argv[1], "uprobe") == 0) {
        for (long i = 0; i < n; i++)
            acc = bench_target(acc);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    double t1 = now_ns(CLOCK_MONOTONIC);
    double c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    printf("%.3f %.3f %ld\n", (c1 - c0) / n, (t1 - t0) / n, acc & 1);
    return 0;
}
