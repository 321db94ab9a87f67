/*
 * records.h - the layouts of the records the example modules exchange over channels (modules/README.md,
 * "Channel records"). All little-endian, which wasm32 is, so a record is written straight from memory.
 */
#ifndef KILN_RECORDS_H
#define KILN_RECORDS_H

#include <stdint.h>

/* fft -> anomaly: the autoencoder's 256 features of one window (sdk/spectral_features.h) as 256 f32, 1024 bytes. */
#define KILN_FEATURES_RECORD_COUNT 256
#define KILN_FEATURES_RECORD_BYTES (KILN_FEATURES_RECORD_COUNT * 4)

/* temperature -> safety: one upward crossing of the trip limit, 24 bytes. */
typedef struct kiln_trip_record {
  double temperature_c; /* the temperature that crossed the limit, °C */
  double trip_c;        /* the limit, °C */
  int64_t at_us;        /* the tick's now_us (the runtime's monotonic clock) */
} kiln_trip_record_t;
_Static_assert(sizeof(kiln_trip_record_t) == 24, "kiln_trip_record_t must be 24 bytes");

#endif /* KILN_RECORDS_H */
