/* A workload for the sweep tests: calls sw_tick TICKS times and sw_tock TOCKS times, then exits.
 *
 *   sweepwork TICKS TOCKS
 *
 * Each fleet host has its own copy of this binary at the same path (a tmpfs in its own mount
 * namespace), so a uprobe on "<path>:sw_tick" counts only the calls of the copy run on that host.
 */
#include <stdio.h>
#include <stdlib.h>

volatile long sink;

__attribute__((noinline)) void sw_tick(long i) { sink += i; __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void sw_tock(long i) { sink -= i; __asm__ volatile("" ::: "memory"); }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sweepwork TICKS TOCKS\n");
        return 2;
    }
    long ticks = atol(argv[1]), tocks = atol(argv[2]);
    for (long i = 0; i < ticks; i++) sw_tick(i);
    for (long i = 0; i < tocks; i++) sw_tock(i);
    printf("%ld %ld\n", ticks, tocks);
    return 0;
}
