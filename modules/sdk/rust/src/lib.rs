//! The `kiln` crate: Rust bindings of the Kiln module ABI, version 1 (`modules/ABI.md` is the contract).
//!
//! `#![no_std]` and without allocation: it builds with Debian's `rustc` and `libstd-rust-dev-wasm32`, no cargo
//! (`modules/sdk/toolchains.ts`, `docs/sdk.md`). It gives a module
//!
//! - safe wrappers over every `kiln` import, taking slices and `&str`, returning [`Result`] for a status
//!   ([`log`], [`output`], [`alert`], [`channel_write`], ...); the raw imports are in [`raw`];
//! - the exports every module needs, as `kiln_rt.c` gives C: `kiln_abi_version` and `kiln_alloc` (a bump
//!   allocator), and a panic handler that traps (the module is then `crashed`);
//! - handler macros ([`init!`], [`on_samples!`], [`on_record!`], [`on_tick!`], [`on_event!`]) that export a
//!   function of safe arguments under the ABI's name, and [`Local`] for the module's state;
//! - the fixed-point helpers, [`fixed`].
//!
//! A stream module in a few lines:
//!
//! ```ignore
//! #![no_std]
//! use kiln::{Level, Result};
//!
//! fn on_samples(samples: &[i16]) -> Result<()> {
//!     let peak = samples.iter().map(|s| (*s as i32).abs()).max().unwrap_or(0);
//!     kiln::output("peak", peak as f64 / 32768.0)?;
//!     kiln::log!(Level::Debug, "peak {}", peak);
//!     Ok(())
//! }
//! kiln::on_samples!(on_samples);
//! ```
#![no_std]

pub mod fixed;
mod handlers;
pub mod raw;
mod runtime;

#[doc(hidden)]
pub use handlers::{__slice, __status};
pub use handlers::{Event, Local, Msg};
pub use runtime::{kiln_abi_version, kiln_alloc};

/// The ABI version these bindings implement; `kiln_abi_version` returns it.
pub const ABI_VERSION: i32 = 1;

/// At most this many values per [`output_array`] call.
pub const MAX_ARRAY: usize = 4096;

/// The largest event payload the host hands over (its event buffer), in bytes.
pub const MAX_EVENT_BYTES: usize = 4096;

/// A refusal from the host: the ABI's negative status codes (`modules/ABI.md`, "Error codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KilnError {
    /// `-1` `KILN_EFAULT`: a bad pointer or length.
    Fault,
    /// `-2` `KILN_ENOENT`: an unknown name or index.
    NotFound,
    /// `-3` `KILN_EDENIED`: the capability is not granted (the call is audited).
    Denied,
    /// `-4` `KILN_ELIMIT`: a rate or size limit.
    Limit,
    /// `-5` `KILN_EINVAL`: an invalid argument.
    Invalid,
    /// Any other non-zero status; a handler may return its own (`Code(-10)`).
    Code(i32),
}

impl KilnError {
    /// The status this error is, as a handler returns it (never 0: `Code(0)` is returned as `-5`).
    pub fn code(self) -> i32 {
        match self {
            KilnError::Fault => -1,
            KilnError::NotFound => -2,
            KilnError::Denied => -3,
            KilnError::Limit => -4,
            KilnError::Invalid => -5,
            KilnError::Code(0) => -5,
            KilnError::Code(n) => n,
        }
    }

    /// The error of a non-zero status.
    pub fn from_code(status: i32) -> KilnError {
        match status {
            -1 => KilnError::Fault,
            -2 => KilnError::NotFound,
            -3 => KilnError::Denied,
            -4 => KilnError::Limit,
            -5 => KilnError::Invalid,
            n => KilnError::Code(n),
        }
    }
}

/// The result of a host call or a handler.
pub type Result<T> = core::result::Result<T, KilnError>;

/// `Ok(())` for status 0, the error otherwise.
#[inline]
pub fn check(status: i32) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(KilnError::from_code(status))
    }
}

/// The square root of `x`, correctly rounded (IEEE 754, as C's `__builtin_sqrt` and AssemblyScript's
/// `Math.sqrt` give it): `core` has no `f64::sqrt` without `std`, and rustc 1.63 no scalar wasm intrinsic, so
/// this takes lane 0 of SIMD128's `f64x2.sqrt` (ABI v1 allows fixed-width SIMD).
#[inline]
pub fn sqrt(x: f64) -> f64 {
    // SAFETY: every Wasm engine Kiln runs on (V8) has SIMD128; the ABI lists it among the features that run.
    unsafe { sqrt_simd128(x) }
}

#[target_feature(enable = "simd128")]
unsafe fn sqrt_simd128(x: f64) -> f64 {
    use core::arch::wasm32::{f64x2_extract_lane, f64x2_splat, f64x2_sqrt};
    f64x2_extract_lane::<0>(f64x2_sqrt(f64x2_splat(x)))
}

/// Log levels of [`log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    /// `0`.
    Debug = 0,
    /// `1`.
    Info = 1,
    /// `2`.
    Warn = 2,
    /// `3`.
    Error = 3,
}

/// Alert severities of [`alert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Severity {
    /// `1`.
    Warning = 1,
    /// `2`.
    Critical = 2,
}

/// The quality of an input value (OPC UA's good, uncertain, bad).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quality {
    /// `0`: a fresh reading.
    Good,
    /// `1`: usable with care (used as good by the examples).
    Uncertain,
    /// `2`: not usable (also a value never read).
    Bad,
}

/// The latest value of one of the module's `inputs`, as [`input`] reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Input {
    /// The value in engineering units (NaN when never read).
    pub value: f64,
    /// Whether the value can be used.
    pub quality: Quality,
    /// Milliseconds since it was read (`u32::MAX` when never).
    pub age_ms: u32,
}

/// Clamps a length to the `i32` the ABI takes (the host then refuses a too long string itself).
#[inline]
fn len32(n: usize) -> i32 {
    if n > i32::MAX as usize {
        i32::MAX
    } else {
        n as i32
    }
}

/// Logs `message` (cut at 1024 bytes by the host). `Err(Limit)` when the log limits dropped it.
pub fn log(level: Level, message: &str) -> Result<()> {
    check(unsafe { raw::log(level as i32, message.as_ptr(), len32(message.len())) })
}

/// Microseconds on the runtime's monotonic clock (not wall time).
pub fn now_us() -> i64 {
    unsafe { raw::now_us() }
}

/// The manifest's `params.<key>`, or `default`. Reserved keys the host sets: `kiln.sample_rate_hz`,
/// `kiln.full_scale`, `kiln.window`, `kiln.hop`, `kiln.period_us`.
pub fn param_f64(key: &str, default: f64) -> f64 {
    unsafe { raw::param_f64(key.as_ptr(), len32(key.len()), default) }
}

/// The manifest's data blob `name` (copied in before `kiln_init`, kept for the instance's life), or `None`.
pub fn data(name: &str) -> Option<&'static [u8]> {
    let mut len: i32 = 0;
    let ptr = unsafe { raw::data(name.as_ptr(), len32(name.len()), &mut len) };
    if ptr.is_null() || len < 0 {
        None
    } else {
        Some(unsafe { core::slice::from_raw_parts(ptr, len as usize) })
    }
}

/// The latest value of the module's `inputs[index]`. Imports `input`: needs a `read:*:*` capability.
/// `Err(NotFound)` for an index the manifest does not declare.
pub fn input(index: u32) -> Result<Input> {
    let mut out = raw::RawInput {
        value: f64::NAN,
        quality: 2,
        age_ms: u32::MAX,
    };
    check(unsafe { raw::input(index as i32, &mut out) })?;
    let quality = match out.quality {
        0 => Quality::Good,
        1 => Quality::Uncertain,
        _ => Quality::Bad,
    };
    Ok(Input {
        value: out.value,
        quality,
        age_ms: out.age_ms,
    })
}

/// Publishes a named scalar result. `Err(Limit)` for a new key past `limits.max_output_keys`.
pub fn output(key: &str, value: f64) -> Result<()> {
    check(unsafe { raw::output(key.as_ptr(), len32(key.len()), value) })
}

/// Publishes a named vector (at most [`MAX_ARRAY`] values). `Err(Limit)` past the array limits.
pub fn output_array(key: &str, values: &[f32]) -> Result<()> {
    check(unsafe {
        raw::output_array(
            key.as_ptr(),
            len32(key.len()),
            values.as_ptr(),
            len32(values.len()),
        )
    })
}

/// Raises an alert. `Err(Limit)` past `limits.alerts_per_s`.
pub fn alert(severity: Severity, message: &str) -> Result<()> {
    check(unsafe { raw::alert(severity as i32, message.as_ptr(), len32(message.len())) })
}

/// The level of GPIO `pin`. Imports `gpio_read`: needs `read:gpio:pin_<pin>`.
pub fn gpio_read(pin: u32) -> Result<bool> {
    let level = unsafe { raw::gpio_read(pin as i32) };
    if level < 0 {
        Err(KilnError::from_code(level))
    } else {
        Ok(level != 0)
    }
}

/// Sets GPIO `pin`, carried out right after the call. Imports `gpio_write`: needs `write:gpio:pin_<pin>`.
pub fn gpio_write(pin: u32, high: bool) -> Result<()> {
    check(unsafe { raw::gpio_write(pin as i32, high as i32) })
}

/// Queues an MQTT message. Imports `publish`: needs a `write:mqtt:<filter>` grant matching `topic`.
/// `Err(Invalid)` for a topic with `+`, `#` or NUL; `Err(Limit)` past the publish limits.
pub fn publish(topic: &str, payload: &[u8]) -> Result<()> {
    check(unsafe {
        raw::publish(
            topic.as_ptr(),
            len32(topic.len()),
            payload.as_ptr(),
            len32(payload.len()),
        )
    })
}

/// Writes one record to the module's `index`-th channel (counting the channels it writes, in manifest
/// order). Imports `channel_write`: needs `write:channel:<id>`. `Err(NotFound)` without such a channel,
/// `Err(Limit)` when the overflow policy dropped it, `Err(Invalid)` when larger than the channel allows.
pub fn channel_write(index: u32, record: &[u8]) -> Result<()> {
    check(unsafe { raw::channel_write(index as i32, record.as_ptr(), len32(record.len())) })
}

/// Drives the module's `index`-th actuator to `value`, carried out after the call returns. Imports
/// `actuate`: needs the point's write capability. `Err(Invalid)` for NaN or an infinite value.
pub fn actuate(index: u32, value: f64) -> Result<()> {
    check(unsafe { raw::actuate(index as i32, value) })
}
