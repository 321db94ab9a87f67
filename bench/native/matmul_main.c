/*
 * matmul_main.c - times matmul_f32.c natively. Usage: matmul_main SEED WARMUP ITERATIONS; prints
 * {"size":N,"checksum":H,"run_ns":[...]} with one duration per timed matmul_run.
 */
/* clock_gettime under -std=c11. */
#define _POSIX_C_SOURCE 199309L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int32_t matmul_size(void);
void matmul_fill(uint32_t seed);
void matmul_run(void);
uint32_t matmul_checksum(void);

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: matmul_main SEED WARMUP ITERATIONS\n");
    return 1;
  }
  uint32_t seed = (uint32_t)strtoul(argv[1], 0, 10);
  long warmup = atol(argv[2]), iterations = atol(argv[3]);
  matmul_fill(seed);
  printf("{\"size\":%d,\"run_ns\":[", matmul_size());
  for (long i = -warmup; i < iterations; i++) {
    int64_t t0 = now_ns();
    matmul_run();
    int64_t t1 = now_ns();
    if (i >= 0) printf("%s%lld", i ? "," : "", (long long)(t1 - t0));
  }
  printf("],\"checksum\":%u}\n", matmul_checksum());
  return 0;
}
