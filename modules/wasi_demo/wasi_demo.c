/*
 * wasi_demo.c - a Kiln ABI v1 module (periodic mode) built with a real libc: Debian's wasi-libc as a WASI
 * reactor. It shows what runs inside Kiln's sandbox and what does not:
 *
 *   - printf and perror work: stdout and stderr reach the module log line by line (fd_write);
 *   - clock_gettime and getentropy work (clock_time_get, random_get);
 *   - files do not: Kiln preopens only "/" on fd 3, through which every open is refused: fopen reaches
 *     the host as path_open, fails with ENOTCAPABLE, and is recorded in the audit log.
 *
 * Built by modules/build.ts with --target=wasm32-wasi -mexec-model=reactor; the host calls _initialize
 * (wasi-libc's constructors) before kiln_init.
 */
#define _DEFAULT_SOURCE /* clock_gettime, getentropy */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

#include "kiln.h"

/* Print a status line every this many ticks. */
#define TICKS_PER_LINE 10

static uint64_t ticks = 0;
static int64_t first_us = -1;
static uint32_t seed = 0;

KILN_EXPORT(kiln_abi_version) int32_t kiln_abi_version(void) { return KILN_ABI_VERSION; }

KILN_EXPORT(kiln_init) int32_t kiln_init(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
    perror("wasi_demo: clock_gettime");
    return -5;
  }
  unsigned char entropy[4];
  if (getentropy(entropy, sizeof entropy) != 0) {
    perror("wasi_demo: getentropy");
    return -5;
  }
  seed = (uint32_t)entropy[0] | (uint32_t)entropy[1] << 8 | (uint32_t)entropy[2] << 16 |
         (uint32_t)entropy[3] << 24;
  printf("wasi_demo: hello from wasi-libc, %d ticks per line, monotonic clock at %lld s\n", TICKS_PER_LINE,
         (long long)ts.tv_sec);

  /* wasi-libc resolves the path against its preopened directories: "/" on fd 3, which the host refuses
   * for every open (and audits). */
  FILE *f = fopen("/etc/passwd", "r");
  if (f == NULL) {
    int err = errno;
    printf("wasi_demo: fopen(\"/etc/passwd\") failed as expected\n");
    fprintf(stderr, "wasi_demo: fopen /etc/passwd: %s (errno %d)\n", strerror(err), err);
  } else {
    printf("wasi_demo: fopen(\"/etc/passwd\") succeeded, the sandbox is open\n");
    fclose(f);
  }

  /* The same request made straight to the host, as a module that bypasses libc would: refused too, and
   * audited with the path. */
  static const char path[] = "/etc/passwd";
  __wasi_fd_t fd = 0;
  __wasi_errno_t rc = __wasi_path_open(3, 0, path, 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
  printf("wasi_demo: path_open(\"%s\") returned errno %u\n", path, (unsigned)rc);
  return 0;
}

KILN_EXPORT(kiln_on_tick) int32_t kiln_on_tick(int64_t now_us) {
  if (first_us < 0) first_us = now_us;
  ticks++;
  if (ticks % TICKS_PER_LINE == 0) {
    double elapsed_s = (double)(now_us - first_us) / 1e6;
    double rate_hz = elapsed_s > 0 ? (double)(ticks - 1) / elapsed_s : 0.0;
    printf("wasi_demo: tick %llu after %.2f s, %.2f ticks/s\n", (unsigned long long)ticks, elapsed_s,
           rate_hz);
    kiln_output("ticks", (double)ticks);
    kiln_output("rate_hz", rate_hz);
  }
  return 0;
}
