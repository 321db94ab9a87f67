/**
 * The files `kiln new` writes besides the SDK: a stream module skeleton per language (every window of
 * vibration samples: its RMS and peak as outputs, a warning alert when the RMS crosses a param), its
 * `kiln.yaml` and a `build.sh` made of the flags `modules/sdk/toolchains.ts` builds with, so a project builds
 * as the repository's modules do. The skeletons behave alike in the three languages.
 *
 * @module
 */
import {
  ascFlags,
  ASSEMBLYSCRIPT,
  CLANG_FLAGS,
  RUSTC_FLAGS,
  RUSTC_MODULE_FLAGS,
} from "../modules/sdk/toolchains.ts";

/** The languages `kiln new` writes. */
export type Lang = "c" | "rust" | "as";

/** Where the skeleton's source goes in the project, and where each language's SDK files are copied. */
export const LAYOUT: Readonly<Record<Lang, { source: (name: string) => string; sdkDir: string }>> = {
  c: { source: (name) => `${name}.c`, sdkDir: "sdk" },
  rust: { source: () => "src/lib.rs", sdkDir: "kiln" },
  as: { source: (name) => `${name}.ts`, sdkDir: "kiln" },
};

/** A shell word, quoted when it needs to be. */
function sh(word: string): string {
  return /^[A-Za-z0-9_./=:,+@-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A Rust crate name for a module name (`-` is not allowed in one). */
export function crateName(name: string): string {
  return name.replaceAll("-", "_");
}

const ALERT_DOC = "a warning alert when the RMS crosses params.alert_rms_g (raised once, re-armed below 90%)";

/** The C skeleton. */
function cSource(name: string): string {
  return `/*
 * ${name}: a Kiln stream module, written by \`kiln new\`. Every window of vibration samples: its RMS and peak in
 * g as outputs, and ${ALERT_DOC}.
 * The SDK is sdk/kiln.h (every host import, documented); build with ./build.sh; run with kiln.yaml.
 */
#include "kiln.h"

static double full_scale_g = 16;
static double alert_rms_g = 4;
static int alerted = 0;

/* kiln_init: called once at start, after the host's buffers are allocated (kiln_alloc, in sdk/kiln_rt.c);
 * KILN_OK is success, anything else fails the start. */
KILN_EXPORT(kiln_init) int32_t kiln_init(void) {
  /* kiln_param: the manifest's params.<key>, or the default; the host sets kiln.full_scale from the sensor
   * (g at Q15 full scale). No capability needed. */
  full_scale_g = kiln_param("kiln.full_scale", 16);
  alert_rms_g = kiln_param("alert_rms_g", 4);
  /* kiln_log_str: a line in the module's log (kiln logs ${name}); rate-limited, cut at 1 KiB. */
  kiln_log_str(KILN_LOG_INFO, "${name} started");
  return KILN_OK;
}

/* kiln_on_samples: one window of \`count\` Q15 samples (32767 is the sensor's positive full scale), from the
 * stream source the manifest names; needs its read:sim:<sensor> capability. A non-zero return is counted in
 * the module's errors and it keeps running; a trap crashes it. */
KILN_EXPORT(kiln_on_samples) int32_t kiln_on_samples(const int16_t *samples, int32_t count) {
  if (count <= 0) return KILN_EINVAL;
  int64_t sum_sq = 0;
  int32_t peak = 0;
  for (int32_t i = 0; i < count; i++) {
    int32_t s = samples[i];
    sum_sq += (int64_t)s * s;
    if ((s < 0 ? -s : s) > peak) peak = s < 0 ? -s : s;
  }
  double scale = full_scale_g / 32768.0;
  double rms_g = __builtin_sqrt((double)sum_sq / count) * scale; /* f64.sqrt, no libm */
  /* kiln_output: a named value, the latest in the API and each one on the telemetry stream. */
  kiln_output("rms_g", rms_g);
  kiln_output("peak_g", peak * scale);
  if (!alerted && rms_g > alert_rms_g) {
    alerted = 1;
    kiln_msg_t m = {0};
    kiln_msg_str(&m, "RMS ");
    kiln_msg_f64(&m, rms_g, 2);
    kiln_msg_str(&m, " g is above ");
    kiln_msg_f64(&m, alert_rms_g, 2);
    /* kiln_alert_raw: an alert for operators (dashboard, kiln alerts, the MQTT uplink); at most 5 a second. */
    kiln_alert_raw(KILN_ALERT_WARNING, m.text, m.len);
  } else if (alerted && rms_g < alert_rms_g * 0.9) {
    alerted = 0;
    kiln_log_str(KILN_LOG_INFO, "RMS back below the alert level");
  }
  return KILN_OK;
}
`;
}

/** The Rust skeleton. */
function rustSource(name: string): string {
  return `//! ${name}: a Kiln stream module, written by \`kiln new\`. Every window of vibration samples: its RMS and
//! peak in g as outputs, and ${ALERT_DOC}.
//! The SDK is the crate in kiln/ (every host import, documented); build with ./build.sh; run with kiln.yaml.
#![no_std]

use kiln::{Level, Local, Result, Severity};

struct State {
    full_scale_g: f64,
    alert_rms_g: f64,
    alerted: bool,
}

/// The module's state: the host never calls a module re-entrantly, which \`Local\` relies on.
static STATE: Local<State> = Local::new(State { full_scale_g: 16.0, alert_rms_g: 4.0, alerted: false });

/// \`kiln_init\` (exported by \`kiln::init!\` below): called once at start; an \`Err\` fails the start.
fn init() -> Result<()> {
    STATE.with(|s| {
        // kiln::param_f64: the manifest's params.<key>, or the default; the host sets kiln.full_scale from
        // the sensor (g at Q15 full scale). No capability needed.
        s.full_scale_g = kiln::param_f64("kiln.full_scale", 16.0);
        s.alert_rms_g = kiln::param_f64("alert_rms_g", 4.0);
    });
    // kiln::log: a line in the module's log (kiln logs ${name}); rate-limited, cut at 1 KiB.
    kiln::log(Level::Info, "${name} started")
}

/// \`kiln_on_samples\` (exported by \`kiln::on_samples!\`): one window of Q15 samples (32767 is the sensor's
/// positive full scale) from the manifest's stream source; needs its read:sim:<sensor> capability. An \`Err\`
/// is counted in the module's errors and it keeps running; a panic traps and crashes it.
fn on_samples(samples: &[i16]) -> Result<()> {
    if samples.is_empty() {
        return Err(kiln::KilnError::Invalid);
    }
    let mut sum_sq: i64 = 0;
    let mut peak: i32 = 0;
    for &s in samples {
        let s = s as i32;
        sum_sq += s as i64 * s as i64;
        peak = peak.max(s.abs());
    }
    STATE.with(|st| {
        let scale = st.full_scale_g / 32768.0;
        let rms_g = kiln::sqrt(sum_sq as f64 / samples.len() as f64) * scale; // no libm in no_std
        // kiln::output: a named value, the latest in the API and each one on the telemetry stream.
        kiln::output("rms_g", rms_g)?;
        kiln::output("peak_g", peak as f64 * scale)?;
        if !st.alerted && rms_g > st.alert_rms_g {
            st.alerted = true;
            // kiln::alert!: an alert for operators (dashboard, kiln alerts, the MQTT uplink); 5 a second at most.
            kiln::alert!(Severity::Warning, "RMS {:.2} g is above {:.2}", rms_g, st.alert_rms_g)?;
        } else if st.alerted && rms_g < st.alert_rms_g * 0.9 {
            st.alerted = false;
            kiln::log(Level::Info, "RMS back below the alert level")?;
        }
        Ok(())
    })
}

kiln::init!(init);
kiln::on_samples!(on_samples);
`;
}

/** The AssemblyScript skeleton. */
function asSource(name: string): string {
  return `// ${name}: a Kiln stream module, written by \`kiln new\`. Every window of vibration samples: its RMS and
// peak in g as outputs, and ${ALERT_DOC}.
// The SDK is kiln/assembly/index.ts (every host import, documented); build with ./build.sh; run with kiln.yaml.
import { alert, Level, log, output, param, sampleAt, Severity, Status } from "./kiln/assembly/index";
// The exports every module needs: the ABI version and the allocator the host fills its buffers with.
export { kiln_abi_version, kiln_alloc } from "./kiln/assembly/index";

let fullScaleG: f64 = 16;
let alertRmsG: f64 = 4;
let alerted = false;

/** Rounds to 2 decimals for a message. */
function round2(x: f64): string {
  return (Math.round(x * 100) / 100).toString();
}

/** Called once at start; \`Status.OK\` is success, anything else fails the start. */
export function kiln_init(): i32 {
  // param: the manifest's params.<key>, or the default; the host sets kiln.full_scale from the sensor (g at
  // Q15 full scale). No capability needed.
  fullScaleG = param("kiln.full_scale", 16);
  alertRmsG = param("alert_rms_g", 4);
  // log: a line in the module's log (kiln logs ${name}); rate-limited, cut at 1 KiB.
  log(Level.Info, "${name} started");
  return Status.OK;
}

/**
 * One window of \`count\` Q15 samples at \`ptr\` (32767 is the sensor's positive full scale) from the manifest's
 * stream source; needs its read:sim:<sensor> capability. A non-zero return is counted in the module's
 * errors and it keeps running; an abort traps and crashes it.
 */
export function kiln_on_samples(ptr: usize, count: i32): i32 {
  if (count <= 0) return Status.EINVAL;
  let sumSq: i64 = 0;
  let peak: i32 = 0;
  for (let i = 0; i < count; i++) {
    const s = <i32>sampleAt(ptr, i);
    sumSq += <i64>s * <i64>s;
    peak = max(peak, abs(s));
  }
  const scale = fullScaleG / 32768.0;
  const rmsG = Math.sqrt(<f64>sumSq / <f64>count) * scale;
  // output: a named value, the latest in the API and each one on the telemetry stream.
  output("rms_g", rmsG);
  output("peak_g", <f64>peak * scale);
  if (!alerted && rmsG > alertRmsG) {
    alerted = true;
    // alert: an alert for operators (dashboard, kiln alerts, the MQTT uplink); at most 5 a second.
    alert(Severity.Warning, "RMS " + round2(rmsG) + " g is above " + round2(alertRmsG));
  } else if (alerted && rmsG < alertRmsG * 0.9) {
    alerted = false;
    log(Level.Info, "RMS back below the alert level");
  }
  return Status.OK;
}
`;
}

/** The skeleton's source in `lang`. */
export function moduleSource(lang: Lang, name: string): string {
  return lang === "c" ? cSource(name) : lang === "rust" ? rustSource(name) : asSource(name);
}

/** The module's manifest: runnable on its own (`kiln run --config kiln.yaml`), its module entry reusable. */
export function manifestSource(name: string, lang: Lang): string {
  return `# A manifest for the module "${name}" (${
    lang === "as" ? "AssemblyScript" : lang === "c" ? "C" : "Rust"
  }), written by \`kiln new\`, on a simulated vibration sensor.
#   ./build.sh                       # builds ${name}.wasm
#   kiln validate kiln.yaml          # checks this file and the module
#   kiln run --config kiln.yaml      # runs it (dashboard and API on 127.0.0.1:8080)
# To add the module to a gateway, copy its entry under modules: and its capabilities into policy.allow.
version: 1

device:
  id: dev-${name}

policy:
  allow:
    - read:sim:vibration_1

connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 25600, shaft_hz: 29.5, full_scale_g: 16, seed: 1 }

modules:
  ${name}:
    wasm: ./${name}.wasm
    # The only capability the skeleton uses: its stream source. log, output, alert and params need none.
    capabilities: [read:sim:vibration_1]
    schedule:
      mode: stream
      source: sim:vibration_1
      window: 1024
      hop: 1024
    params:
      alert_rms_g: 4.0
    limits:
      max_memory_mb: 2
      budget_us: 25000
`;
}

/** `build.sh`: the language's build with the flags `modules/sdk/toolchains.ts` uses. */
export function buildScript(name: string, lang: Lang, sdkFiles: readonly string[]): string {
  const head = `#!/bin/sh
# Builds ${name}.wasm, written by \`kiln new\`. Reproducible: the same sources give the same bytes.
set -eu
cd "$(dirname "$0")"
`;
  if (lang === "c") {
    const sources = sdkFiles.filter((f) => f.endsWith(".c"));
    return `${head}# Needs Debian's clang-19 and lld-19 (apt-get install clang-19 lld-19); freestanding, no libc.
if ! command -v clang-19 >/dev/null 2>&1; then
  echo "build.sh: clang-19 not found (install it with: apt-get install clang-19 lld-19)" >&2
  exit 2
fi
clang-19 ${CLANG_FLAGS.map(sh).join(" ")} -Isdk ${name}.c ${sources.join(" ")} -o ${name}.wasm
echo "built ${name}.wasm"
`;
  }
  if (lang === "rust") {
    return `${head}# Needs rustc with the wasm32 standard library, no cargo (apt-get install rustc libstd-rust-dev-wasm32).
RUSTC="\${RUSTC:-/usr/bin/rustc}"
if [ ! -x "$RUSTC" ]; then
  echo "build.sh: $RUSTC not found (install it with: apt-get install rustc libstd-rust-dev-wasm32)" >&2
  exit 2
fi
mkdir -p target
"$RUSTC" ${RUSTC_FLAGS.map(sh).join(" ")} --crate-type rlib --crate-name kiln \\
  -o target/libkiln.rlib kiln/src/lib.rs
"$RUSTC" ${RUSTC_FLAGS.map(sh).join(" ")} ${RUSTC_MODULE_FLAGS.map(sh).join(" ")} \\
  --crate-name ${crateName(name)} --remap-path-prefix="$PWD=." --extern kiln=target/libkiln.rlib \\
  -o ${name}.wasm src/lib.rs
echo "built ${name}.wasm"
`;
  }
  const pkg = ASSEMBLYSCRIPT.replace(/^npm:/, "");
  return `${head}# Needs npm (Node.js); the first build fetches ${pkg} from the npm registry.
if ! command -v npx >/dev/null 2>&1; then
  echo "build.sh: npx not found (install it with: apt-get install npm)" >&2
  exit 2
fi
npx --yes --package=${pkg} -- asc ${name}.ts -o ${name}.wasm ${
    ascFlags("kiln/assembly/index/kiln_abort").map(sh).join(" ")
  }
echo "built ${name}.wasm"
`;
}
