// vibration_rms.ts - the SDK example module in AssemblyScript (the same module is in ../c and ../rust; the
// three give the same outputs and alerts for the same samples, tests/sdk/example_test.ts runs them side by
// side). AssemblyScript, compiled by asc (modules/build.ts), not by Deno.
//
// Stream mode, window 1024. Per window, integer arithmetic only (the SDK's fixed.ts):
// - the RMS of the window's Q15 samples (q15Rms) and its largest |sample| (q15Peak);
// - the mean-removed, Hann-windowed Q15 FFT and the strongest line of its power spectrum, DC skipped
//   (spectrumPeakBin): bin and frequency;
// - a debounced threshold alert: raised (warning) after `raise_after` consecutive windows whose RMS is above
//   the threshold, cleared (an info log line) after `clear_after` consecutive windows at or below it.
//
// Params: rms_alert_g (threshold, g RMS, default 0.27), raise_after (windows, default 3), clear_after
// (windows, default 5), kiln.sample_rate_hz (default 25600), kiln.full_scale (g at Q15 full scale, default
// 16). The threshold in counts is q15FromF64(rms_alert_g / kiln.full_scale).
// Outputs: windows, rms_q15, rms_g, max_abs_q15, peak_bin, peak_hz, alarm (0 or 1), rms_alert_q15.
import {
  alert,
  FFT_Q15_N,
  fftQ15_1024,
  fftQ15Power,
  fftQ15Window,
  Level,
  log,
  output,
  param,
  q15Abs,
  q15FromF64,
  q15Mean,
  q15Peak,
  q15Rms,
  sampleAt,
  Severity,
  spectrumPeakBin,
  Status,
} from "../../sdk/assemblyscript/assembly/index";
export { kiln_abi_version, kiln_alloc } from "../../sdk/assemblyscript/assembly/index";

// The complex FFT block (2 * 1024 i16) and the power spectrum (512 u32), in static memory.
const WORK: usize = memory.data(4096, 16);
const POWER: usize = memory.data(2048, 16);

let sampleRateHz: f64 = 25600;
let fullScaleG: f64 = 16;
let thresholdQ15: i32 = 0;
let raiseAfter: i32 = 3;
let clearAfter: i32 = 5;
let windows: i32 = 0;
let aboveRun: i32 = 0;
let belowRun: i32 = 0;
let alarm: bool = false;

/** A window count from params: a whole number from 1 to 1000, or -1. */
function windowCount(key: string, fallback: f64): i32 {
  const v = param(key, fallback);
  if (!(v >= 1 && v <= 1000) || <f64> <i32> v != v) return -1;
  return <i32> v;
}

export function kiln_init(): i32 {
  sampleRateHz = param("kiln.sample_rate_hz", 25600);
  fullScaleG = param("kiln.full_scale", 16);
  const alertG = param("rms_alert_g", 0.27);
  raiseAfter = windowCount("raise_after", 3);
  clearAfter = windowCount("clear_after", 5);
  if (!(sampleRateHz > 0) || !(fullScaleG > 0) || !(alertG > 0) || raiseAfter < 0 || clearAfter < 0) {
    log(
      Level.Error,
      "Cannot start: kiln.sample_rate_hz, kiln.full_scale and rms_alert_g must be positive, " +
        "raise_after and clear_after whole numbers from 1 to 1000",
    );
    return Status.EINVAL;
  }
  thresholdQ15 = q15FromF64(alertG / fullScaleG);
  return Status.OK;
}

export function kiln_on_samples(ptr: usize, count: i32): i32 {
  if (count != FFT_Q15_N) return Status.EINVAL;
  windows++;
  const rms = q15Rms(ptr, FFT_Q15_N);
  const maxAbs = q15Abs(sampleAt(ptr, q15Peak(ptr, FFT_Q15_N)));

  fftQ15Window(ptr, q15Mean(ptr, FFT_Q15_N), WORK);
  fftQ15_1024(WORK);
  fftQ15Power(WORK, POWER);
  const bin = spectrumPeakBin(POWER, FFT_Q15_N / 2, 1);

  if (rms > thresholdQ15) {
    aboveRun++;
    belowRun = 0;
  } else {
    belowRun++;
    aboveRun = 0;
  }
  if (!alarm && aboveRun >= raiseAfter) {
    alarm = true;
    alert(
      Severity.Warning,
      "Vibration RMS above " + thresholdQ15.toString() + " (Q15) for " + raiseAfter.toString() +
        " windows: " +
        rms.toString() + " at window " + windows.toString(),
    );
  } else if (alarm && belowRun >= clearAfter) {
    alarm = false;
    log(
      Level.Info,
      "Vibration RMS alert cleared: at or below " + thresholdQ15.toString() + " (Q15) for " +
        clearAfter.toString() + " windows, at window " + windows.toString(),
    );
  }

  output("windows", <f64> windows);
  output("rms_q15", <f64> rms);
  output("rms_g", <f64> rms * fullScaleG / 32768.0);
  output("max_abs_q15", <f64> maxAbs);
  output("peak_bin", <f64> bin);
  output("peak_hz", <f64> bin * sampleRateHz / <f64> FFT_Q15_N);
  output("alarm", alarm ? 1 : 0);
  output("rms_alert_q15", <f64> thresholdQ15);
  return Status.OK;
}
