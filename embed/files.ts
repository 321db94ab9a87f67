/**
 * Fills the {@link ./mod.ts} registry with the files Kiln reads at run time, imported as bytes (Deno's
 * `with { type: "bytes" }` import attribute, `--unstable-raw-imports`): `deno bundle` inlines them into
 * `dist/kiln.js`. Only the bundle's entry (`scripts/bundle.ts` puts this import before `main.ts`'s text)
 * imports this module, so running from source needs no unstable flag and reads the files themselves.
 *
 * It also carries the SDK sources `kiln new` copies into a project (`cli/new.ts`, `SDK_FILES`).
 *
 * The demo's modules are the committed builds that `modules/hashes.json` lists; `scripts/bundle.ts` checks
 * their sha256 against it, and that this list covers every file `examples/demo.yaml` and the migrations
 * reader name, before it bundles.
 *
 * @module
 */
import { embedFiles } from "./mod.ts";

import m001 from "../snapshots/migrations/001_audit.sql" with { type: "bytes" };
import m002 from "../snapshots/migrations/002_snapshots.sql" with { type: "bytes" };
import m003 from "../snapshots/migrations/003_outbox.sql" with { type: "bytes" };
import m004 from "../snapshots/migrations/004_tokens.sql" with { type: "bytes" };
import m005 from "../snapshots/migrations/005_outbox_owners.sql" with { type: "bytes" };
import m006 from "../snapshots/migrations/006_deployments.sql" with { type: "bytes" };
import m007 from "../snapshots/migrations/007_audit_signatures.sql" with { type: "bytes" };
import m008 from "../snapshots/migrations/008_image_refs.sql" with { type: "bytes" };
import m009 from "../snapshots/migrations/009_alerts.sql" with { type: "bytes" };
import demo from "../examples/demo.yaml" with { type: "bytes" };
import fft from "../modules/fft/fft.wasm" with { type: "bytes" };
import anomaly from "../modules/anomaly/anomaly.wasm" with { type: "bytes" };
import weights from "../modules/anomaly/weights.bin" with { type: "bytes" };
import temperature from "../modules/temperature/temperature.wasm" with { type: "bytes" };
import safety from "../modules/safety/safety.wasm" with { type: "bytes" };
import aggregator from "../modules/aggregator/aggregator.wasm" with { type: "bytes" };
import sdkKilnH from "../modules/sdk/kiln.h" with { type: "bytes" };
import sdkKilnRt from "../modules/sdk/kiln_rt.c" with { type: "bytes" };
import sdkFixedH from "../modules/sdk/kiln_fixed.h" with { type: "bytes" };
import sdkFixedC from "../modules/sdk/kiln_fixed.c" with { type: "bytes" };
import sdkFftH from "../modules/sdk/fft_q15.h" with { type: "bytes" };
import sdkFftC from "../modules/sdk/fft_q15.c" with { type: "bytes" };
import sdkKmathH from "../modules/sdk/kmath.h" with { type: "bytes" };
import rustLib from "../modules/sdk/rust/src/lib.rs" with { type: "bytes" };
import rustRaw from "../modules/sdk/rust/src/raw.rs" with { type: "bytes" };
import rustRuntime from "../modules/sdk/rust/src/runtime.rs" with { type: "bytes" };
import rustHandlers from "../modules/sdk/rust/src/handlers.rs" with { type: "bytes" };
import rustFixed from "../modules/sdk/rust/src/fixed.rs" with { type: "bytes" };
import asIndex from "../modules/sdk/assemblyscript/assembly/index.ts" with { type: "bytes" };
import asFixed from "../modules/sdk/assemblyscript/assembly/fixed.ts" with { type: "bytes" };

/** Every embedded file by repository path; `scripts/bundle.ts` reads this list to check it. */
export const EMBEDDED_FILES: ReadonlyMap<string, Uint8Array> = new Map([
  ["snapshots/migrations/001_audit.sql", m001],
  ["snapshots/migrations/002_snapshots.sql", m002],
  ["snapshots/migrations/003_outbox.sql", m003],
  ["snapshots/migrations/004_tokens.sql", m004],
  ["snapshots/migrations/005_outbox_owners.sql", m005],
  ["snapshots/migrations/006_deployments.sql", m006],
  ["snapshots/migrations/007_audit_signatures.sql", m007],
  ["snapshots/migrations/008_image_refs.sql", m008],
  ["snapshots/migrations/009_alerts.sql", m009],
  ["examples/demo.yaml", demo],
  ["modules/fft/fft.wasm", fft],
  ["modules/anomaly/anomaly.wasm", anomaly],
  ["modules/anomaly/weights.bin", weights],
  ["modules/temperature/temperature.wasm", temperature],
  ["modules/safety/safety.wasm", safety],
  ["modules/aggregator/aggregator.wasm", aggregator],
  // The SDK files `kiln new` copies into a project (cli/new.ts, SDK_FILES).
  ["modules/sdk/kiln.h", sdkKilnH],
  ["modules/sdk/kiln_rt.c", sdkKilnRt],
  ["modules/sdk/kiln_fixed.h", sdkFixedH],
  ["modules/sdk/kiln_fixed.c", sdkFixedC],
  ["modules/sdk/fft_q15.h", sdkFftH],
  ["modules/sdk/fft_q15.c", sdkFftC],
  ["modules/sdk/kmath.h", sdkKmathH],
  ["modules/sdk/rust/src/lib.rs", rustLib],
  ["modules/sdk/rust/src/raw.rs", rustRaw],
  ["modules/sdk/rust/src/runtime.rs", rustRuntime],
  ["modules/sdk/rust/src/handlers.rs", rustHandlers],
  ["modules/sdk/rust/src/fixed.rs", rustFixed],
  ["modules/sdk/assemblyscript/assembly/index.ts", asIndex],
  ["modules/sdk/assemblyscript/assembly/fixed.ts", asFixed],
]);

embedFiles(EMBEDDED_FILES);
