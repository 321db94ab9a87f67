//! The `kiln` host imports exactly as ABI v1 declares them (`modules/ABI.md`, "Imports"): pointers and
//! lengths, status codes. Prefer the safe wrappers at the crate root. An import a module never calls is not
//! imported by its `.wasm` (the linker drops it), so the gated ones need a capability only when used.

/// The 16 bytes `input` writes: `f64 value`, `u32 quality`, `u32 age_ms`, little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawInput {
    /// The value, NaN when never read.
    pub value: f64,
    /// 0 good, 1 uncertain, 2 bad.
    pub quality: u32,
    /// Milliseconds since it was read.
    pub age_ms: u32,
}

#[link(wasm_import_module = "kiln")]
extern "C" {
    /// `log(level, ptr, len) -> i32`.
    pub fn log(level: i32, ptr: *const u8, len: i32) -> i32;
    /// `now_us() -> i64`.
    pub fn now_us() -> i64;
    /// `param_f64(key_ptr, key_len, default) -> f64`.
    pub fn param_f64(key: *const u8, key_len: i32, default: f64) -> f64;
    /// `data(name_ptr, name_len, out_len_ptr) -> ptr` (null when there is no such blob).
    pub fn data(name: *const u8, name_len: i32, out_len: *mut i32) -> *const u8;
    /// `input(index, out_ptr) -> i32`; gated by `read:*:*`.
    pub fn input(index: i32, out: *mut RawInput) -> i32;
    /// `output(key_ptr, key_len, value) -> i32`.
    pub fn output(key: *const u8, key_len: i32, value: f64) -> i32;
    /// `output_array(key_ptr, key_len, data_ptr, count) -> i32`.
    pub fn output_array(key: *const u8, key_len: i32, data: *const f32, count: i32) -> i32;
    /// `alert(severity, ptr, len) -> i32`.
    pub fn alert(severity: i32, ptr: *const u8, len: i32) -> i32;
    /// `gpio_read(pin) -> i32`; gated by `read:gpio:*`.
    pub fn gpio_read(pin: i32) -> i32;
    /// `gpio_write(pin, value) -> i32`; gated by `write:gpio:*`.
    pub fn gpio_write(pin: i32, value: i32) -> i32;
    /// `publish(topic_ptr, topic_len, payload_ptr, payload_len) -> i32`; gated by `write:mqtt:*`.
    pub fn publish(topic: *const u8, topic_len: i32, payload: *const u8, payload_len: i32) -> i32;
    /// `channel_write(index, ptr, len) -> i32`; gated by `write:channel:*`.
    pub fn channel_write(index: i32, ptr: *const u8, len: i32) -> i32;
    /// `actuate(index, value) -> i32`; gated by `write:*:*`.
    pub fn actuate(index: i32, value: f64) -> i32;
}
