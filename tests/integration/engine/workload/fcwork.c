/* A workload that makes a known number of calls when told to.
 *
 *   fcwork ALPHA BETA GETPPID FORKS
 *
 * prints "ready", waits for a line on stdin, then calls fc_alpha ALPHA times,
 * fc_beta BETA times, getppid() (through libc) GETPPID times and forks FORKS
 * children that exit at once; prints "done" and waits for end of input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

volatile int sink;

__attribute__((noinline)) int fc_alpha(int x) { sink += x; return x + 1; }
__attribute__((noinline)) int fc_beta(int x) { sink -= x; return x * 2; }
__attribute__((noinline)) int fc_gamma(int x) { sink ^= x; return x - 1; }

int main(int argc, char **argv)
{
    char line[64];
    if (argc != 5) {
        fprintf(stderr, "usage: fcwork ALPHA BETA GETPPID FORKS\n");
        return 2;
    }
    long alpha = atol(argv[1]), beta = atol(argv[2]), ppid = atol(argv[3]), forks = atol(argv[4]);
    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        return 1;
    for (long i = 0; i < alpha; i++) fc_alpha((int)i);
    for (long i = 0; i < beta; i++) fc_beta((int)i);
    for (long i = 0; i < ppid; i++) sink += getppid();
    for (long i = 0; i < forks; i++) {
        pid_t child = fork();
        if (child == 0) _exit(0);
        if (child > 0) waitpid(child, NULL, 0);
    }
    printf("done\n");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin))
        ;
    return 0;
}
