/*
 * The federation's workload image: counts once a tick, the count held only in this process's memory (no file), so
 * a restored container that goes on counting proves its memory came back. Built static, into an image with
 * busybox (e2e/src/fed/images.ts).
 *
 *   HOLD_MIB=N      allocate and touch N MiB of incompressible memory first (checkpoint sizes, benchmarks)
 *   INTERVAL_MS=N   tick length (default 1000)
 *   MARK_FILE=path  write "started <pid>" to path once at start, and show the file's first line at every tick:
 *                   a file written before a checkpoint must still be there after the restore
 *
 * Prints "count N" (or "count N mark=<line>") each tick; exits 0 on SIGTERM, as a well-behaved workload does within its grace period.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Escapes to a global, so the compiler keeps every store into it. */
unsigned long long *volatile held;

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGTERM, on_term);
  const char *hold = getenv("HOLD_MIB");
  const char *interval = getenv("INTERVAL_MS");
  const char *mark = getenv("MARK_FILE");
  long ms = interval ? atol(interval) : 1000;
  if (ms <= 0) ms = 1000;
  if (mark) {
    FILE *f = fopen(mark, "w");
    if (f) {
      fprintf(f, "started %d\n", (int)getpid());
      fclose(f);
    }
  }
  long mib = hold ? atol(hold) : 0;
  if (mib > 0) {
    size_t n = (size_t)mib << 20;
    unsigned long long *p = malloc(n);
    held = p;
    if (!p) {
      fprintf(stderr, "cannot hold %ld MiB\n", mib);
      return 1;
    }
    unsigned long long x = 88172645463325252ULL ^ (unsigned long long)getpid();
    for (size_t i = 0; i < n / sizeof *p; i++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;  /* xorshift: pages that do not compress */
      p[i] = x;
    }
    printf("holding %ld MiB\n", mib);
  }
  struct timespec tick = {ms / 1000, (ms % 1000) * 1000000L};
  for (unsigned long count = 1;; count++) {
    char line[64] = "";
    if (mark) {
      FILE *f = fopen(mark, "r");
      if (!f || !fgets(line, sizeof line, f)) snprintf(line, sizeof line, "missing\n");
      if (f) fclose(f);
      printf("count %lu mark=%s", count, line);
    } else {
      printf("count %lu\n", count);
    }
    nanosleep(&tick, NULL);
  }
}
