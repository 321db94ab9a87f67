/*
 * kiln_host_stubs.h - STUBS of the Kiln host imports (modules/sdk/kiln.h) for building a module's C source
 * natively (gcc -O2), as bench/compute.ts does to time it against the same source run as a Kiln module.
 * They are not the host: they record what the module outputs so that the benchmark can check that the native
 * build computes the same values as the Wasm one, and otherwise do as little as the real host does when
 * nothing is configured (no channels, no inputs, no gated grants).
 */
#ifndef KILN_HOST_STUBS_H
#define KILN_HOST_STUBS_H

#include <stdint.h>
#include <stdio.h>

/* Sets a param the stub kiln_param_f64 returns (the same ones bench/compute.ts gives the Wasm instance). */
void kiln_stub_set_param(const char *key, double value);
/* Sets the data blob the stub kiln_data returns for `name`. */
void kiln_stub_set_data(const char *name, const uint8_t *bytes, int32_t len);
/* Starts or stops recording outputs; while recording, each call appends one JSON value to `out`. */
void kiln_stub_record(FILE *out);
/* Scalar outputs, array outputs, log lines and alerts the module made since the start. */
extern uint64_t kiln_stub_outputs, kiln_stub_arrays, kiln_stub_logs, kiln_stub_alerts;

#endif /* KILN_HOST_STUBS_H */
