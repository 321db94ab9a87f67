//! Handler macros, the module's state cell and a small message buffer.

use core::cell::{Cell, UnsafeCell};

/// One event of `kiln_on_event` (`modules/ABI.md`, "Events"), its payload borrowed from the host's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Kind 1: the body of `POST /api/v1/modules/<name>/events`.
    Api(&'a [u8]),
    /// Kind 2: an edge of a `gpio:pin_<n>` trigger, the pin and its level after the edge.
    Gpio {
        /// The pin number.
        pin: u32,
        /// Its level after the edge.
        high: bool,
    },
    /// Kind 3: one record of the `channel:<id>` trigger.
    Channel(&'a [u8]),
    /// Kind 4: the payload of an MQTT message matching the `mqtt:<filter>` trigger.
    Mqtt(&'a [u8]),
    /// A kind ABI v1 does not define (or a GPIO payload that is not 8 bytes): answer `Err(Invalid)` or `Ok`.
    Other(i32, &'a [u8]),
}

impl<'a> Event<'a> {
    /// The event of `kind` with `payload`.
    pub fn new(kind: i32, payload: &'a [u8]) -> Event<'a> {
        match (kind, payload) {
            (1, _) => Event::Api(payload),
            (2, &[p0, p1, p2, p3, l0, l1, l2, l3]) => Event::Gpio {
                pin: u32::from_le_bytes([p0, p1, p2, p3]),
                high: u32::from_le_bytes([l0, l1, l2, l3]) != 0,
            },
            (3, _) => Event::Channel(payload),
            (4, _) => Event::Mqtt(payload),
            _ => Event::Other(kind, payload),
        }
    }
}

/// The module's state, in a `static`: `static STATE: Local<State> = Local::new(State { .. });`, then
/// `STATE.with(|s| ...)`. Sound because the host never calls an instance re-entrantly or from two threads
/// (ABI.md, "Call order"); a nested `with` on the same cell panics (the module traps) instead of aliasing.
pub struct Local<T> {
    value: UnsafeCell<T>,
    busy: Cell<bool>,
}

// SAFETY: wasm32 modules run on one thread and the host never re-enters an instance.
unsafe impl<T> Sync for Local<T> {}

impl<T> Local<T> {
    /// A cell holding `value` (usable in a `static`).
    pub const fn new(value: T) -> Local<T> {
        Local {
            value: UnsafeCell::new(value),
            busy: Cell::new(false),
        }
    }

    /// Runs `f` with the state borrowed mutably.
    ///
    /// Traps (after an error log line) when called again from inside `f` on the same cell.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        if self.busy.replace(true) {
            // Not panic!(): its message would carry this file's line number into every module's bytes.
            let _ = crate::log(crate::Level::Error, "kiln::Local::with called re-entrantly");
            core::arch::wasm32::unreachable();
        }
        // SAFETY: `busy` guarantees this is the only live borrow.
        let result = f(unsafe { &mut *self.value.get() });
        self.busy.set(false);
        result
    }
}

/// A 256-byte text buffer for log and alert messages without allocation: it implements `core::fmt::Write`
/// and cuts what does not fit (at a UTF-8 boundary). See [`crate::log!`] and [`crate::alert!`].
pub struct Msg {
    text: [u8; 256],
    len: usize,
}

impl Msg {
    /// An empty message.
    pub const fn new() -> Msg {
        Msg {
            text: [0; 256],
            len: 0,
        }
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // The buffer only ever receives whole UTF-8 characters (see write_str). No indexing that can panic
        // here or below: a panic's message carries this file's line number into every module's bytes.
        self.text
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl Default for Msg {
    fn default() -> Msg {
        Msg::new()
    }
}

impl core::fmt::Write for Msg {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.text.len().saturating_sub(self.len);
        let mut n = s.len().min(room);
        while n > 0 && !s.is_char_boundary(n) {
            n -= 1;
        }
        if let Some(free) = self.text.get_mut(self.len..) {
            for (to, from) in free.iter_mut().zip(s.as_bytes().iter().take(n)) {
                *to = *from;
            }
        }
        self.len += n;
        Ok(())
    }
}

/// Logs a formatted message: `kiln::log!(Level::Info, "rms {:.3} g", rms)`; evaluates to `kiln::Result<()>`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {{
        let mut msg = $crate::Msg::new();
        let _ = core::fmt::Write::write_fmt(&mut msg, format_args!($($arg)*));
        $crate::log($level, msg.as_str())
    }};
}

/// Raises an alert with a formatted message: `kiln::alert!(Severity::Warning, "rms {:.2} g", rms)`.
#[macro_export]
macro_rules! alert {
    ($severity:expr, $($arg:tt)*) => {{
        let mut msg = $crate::Msg::new();
        let _ = core::fmt::Write::write_fmt(&mut msg, format_args!($($arg)*));
        $crate::alert($severity, msg.as_str())
    }};
}

/// Exports `kiln_init` calling `f: fn() -> kiln::Result<()>`; an `Err` fails the start with its code.
#[macro_export]
macro_rules! init {
    ($f:path) => {
        #[no_mangle]
        pub extern "C" fn kiln_init() -> i32 {
            $crate::__status($f())
        }
    };
}

/// Exports `kiln_on_samples` calling `f: fn(&[i16]) -> kiln::Result<()>` with the window's Q15 samples.
#[macro_export]
macro_rules! on_samples {
    ($f:path) => {
        #[no_mangle]
        pub extern "C" fn kiln_on_samples(ptr: i32, count: i32) -> i32 {
            // SAFETY: the host passes `count` samples at `ptr`, in the buffer it got from kiln_alloc.
            let samples = unsafe { $crate::__slice::<i16>(ptr, count) };
            $crate::__status($f(samples))
        }
    };
}

/// Exports `kiln_on_record` calling `f: fn(&[u8]) -> kiln::Result<()>` with one channel record.
#[macro_export]
macro_rules! on_record {
    ($f:path) => {
        #[no_mangle]
        pub extern "C" fn kiln_on_record(ptr: i32, len: i32) -> i32 {
            // SAFETY: the host passes `len` bytes at `ptr`, in the buffer it got from kiln_alloc.
            let record = unsafe { $crate::__slice::<u8>(ptr, len) };
            $crate::__status($f(record))
        }
    };
}

/// Exports `kiln_on_tick` calling `f: fn(i64) -> kiln::Result<()>` with `now_us`.
#[macro_export]
macro_rules! on_tick {
    ($f:path) => {
        #[no_mangle]
        pub extern "C" fn kiln_on_tick(now_us: i64) -> i32 {
            $crate::__status($f(now_us))
        }
    };
}

/// Exports `kiln_on_event` calling `f: fn(kiln::Event) -> kiln::Result<()>`.
#[macro_export]
macro_rules! on_event {
    ($f:path) => {
        #[no_mangle]
        pub extern "C" fn kiln_on_event(kind: i32, ptr: i32, len: i32) -> i32 {
            // SAFETY: the host passes `len` bytes at `ptr`, in the buffer it got from kiln_alloc.
            let payload = unsafe { $crate::__slice::<u8>(ptr, len) };
            $crate::__status($f($crate::Event::new(kind, payload)))
        }
    };
}

/// The status a handler returns for its result (macro support, not API).
#[doc(hidden)]
#[inline]
pub fn __status(result: crate::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

/// The host's buffer as a slice (macro support, not API).
///
/// # Safety
/// `ptr` must point at `count` values of `T` that stay valid for the call.
#[doc(hidden)]
#[inline]
pub unsafe fn __slice<'a, T>(ptr: i32, count: i32) -> &'a [T] {
    if count <= 0 || ptr == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(ptr as usize as *const T, count as usize)
    }
}
