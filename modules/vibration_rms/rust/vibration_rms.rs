//! vibration_rms.rs - the SDK example module in Rust (the same module is in ../c and ../as; the three give
//! the same outputs and alerts for the same samples, tests/sdk/example_test.ts runs them side by side).
//!
//! Stream mode, window 1024. Per window, integer arithmetic only (`kiln::fixed`):
//! - the RMS of the window's Q15 samples (`q15_rms`) and its largest |sample| (`q15_peak`);
//! - the mean-removed, Hann-windowed Q15 FFT and the strongest line of its power spectrum, DC skipped
//!   (`spectrum_peak_bin`): bin and frequency;
//! - a debounced threshold alert: raised (warning) after `raise_after` consecutive windows whose RMS is above
//!   the threshold, cleared (an info log line) after `clear_after` consecutive windows at or below it.
//!
//! Params: `rms_alert_g` (threshold, g RMS, default 0.27), `raise_after` (windows, default 3), `clear_after`
//! (windows, default 5), `kiln.sample_rate_hz` (default 25600), `kiln.full_scale` (g at Q15 full scale,
//! default 16). The threshold in counts is `q15_from_f64(rms_alert_g / kiln.full_scale)`.
//! Outputs: `windows`, `rms_q15`, `rms_g`, `max_abs_q15`, `peak_bin`, `peak_hz`, `alarm` (0 or 1),
//! `rms_alert_q15`.
#![no_std]

use kiln::fixed::*;
use kiln::{KilnError, Level, Local, Result, Severity};

const N: usize = FFT_Q15_N;

struct State {
    sample_rate_hz: f64,
    full_scale_g: f64,
    threshold_q15: i32,
    raise_after: i32,
    clear_after: i32,
    windows: i32,
    above_run: i32,
    below_run: i32,
    alarm: bool,
    work: [i16; 2 * N],
    power: [u32; N / 2],
}

static STATE: Local<State> = Local::new(State {
    sample_rate_hz: 25600.0,
    full_scale_g: 16.0,
    threshold_q15: 0,
    raise_after: 3,
    clear_after: 5,
    windows: 0,
    above_run: 0,
    below_run: 0,
    alarm: false,
    work: [0; 2 * N],
    power: [0; N / 2],
});

/// A window count from params: a whole number from 1 to 1000, or `None`.
fn window_count(key: &str, default: f64) -> Option<i32> {
    let v = kiln::param_f64(key, default);
    if !(v >= 1.0 && v <= 1000.0) || (v as i32) as f64 != v {
        return None;
    }
    Some(v as i32)
}

fn init() -> Result<()> {
    let sample_rate_hz = kiln::param_f64("kiln.sample_rate_hz", 25600.0);
    let full_scale_g = kiln::param_f64("kiln.full_scale", 16.0);
    let alert_g = kiln::param_f64("rms_alert_g", 0.27);
    let raise_after = window_count("raise_after", 3.0);
    let clear_after = window_count("clear_after", 5.0);
    let (raise_after, clear_after) = match (raise_after, clear_after) {
        (Some(r), Some(c)) if sample_rate_hz > 0.0 && full_scale_g > 0.0 && alert_g > 0.0 => (r, c),
        _ => {
            let _ = kiln::log(
                Level::Error,
                "Cannot start: kiln.sample_rate_hz, kiln.full_scale and rms_alert_g must be positive, \
                 raise_after and clear_after whole numbers from 1 to 1000",
            );
            return Err(KilnError::Invalid);
        }
    };
    STATE.with(|s| {
        s.sample_rate_hz = sample_rate_hz;
        s.full_scale_g = full_scale_g;
        s.threshold_q15 = q15_from_f64(alert_g / full_scale_g) as i32;
        s.raise_after = raise_after;
        s.clear_after = clear_after;
    });
    Ok(())
}

fn on_samples(samples: &[i16]) -> Result<()> {
    let samples: &[i16; N] = samples.try_into().map_err(|_| KilnError::Invalid)?;
    STATE.with(|s| {
        s.windows += 1;
        let rms = q15_rms(samples);
        let max_abs = q15_peak(samples).map_or(0, |i| q15_abs(samples[i]));

        fft_q15_window(samples, q15_mean(samples), &mut s.work);
        fft_q15_1024(&mut s.work);
        fft_q15_power(&s.work, &mut s.power);
        let bin = spectrum_peak_bin(&s.power, 1).unwrap_or(1) as i32;

        if rms > s.threshold_q15 {
            s.above_run += 1;
            s.below_run = 0;
        } else {
            s.below_run += 1;
            s.above_run = 0;
        }
        if !s.alarm && s.above_run >= s.raise_after {
            s.alarm = true;
            let _ = kiln::alert!(
                Severity::Warning,
                "Vibration RMS above {} (Q15) for {} windows: {} at window {}",
                s.threshold_q15,
                s.raise_after,
                rms,
                s.windows
            );
        } else if s.alarm && s.below_run >= s.clear_after {
            s.alarm = false;
            let _ = kiln::log!(
                Level::Info,
                "Vibration RMS alert cleared: at or below {} (Q15) for {} windows, at window {}",
                s.threshold_q15,
                s.clear_after,
                s.windows
            );
        }

        let _ = kiln::output("windows", s.windows as f64);
        let _ = kiln::output("rms_q15", rms as f64);
        let _ = kiln::output("rms_g", rms as f64 * s.full_scale_g / 32768.0);
        let _ = kiln::output("max_abs_q15", max_abs as f64);
        let _ = kiln::output("peak_bin", bin as f64);
        let _ = kiln::output("peak_hz", bin as f64 * s.sample_rate_hz / N as f64);
        let _ = kiln::output("alarm", if s.alarm { 1.0 } else { 0.0 });
        let _ = kiln::output("rms_alert_q15", s.threshold_q15 as f64);
    });
    Ok(())
}

kiln::init!(init);
kiln::on_samples!(on_samples);
