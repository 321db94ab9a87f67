//! What every module needs besides its handlers, as `kiln_rt.c` gives C: the `kiln_abi_version` and
//! `kiln_alloc` exports, and a panic handler that traps.

use core::arch::wasm32;

extern "C" {
    /// First byte after the linker's data and stack (wasm-ld defines it).
    static __heap_base: u8;
}

/// The next free byte of the bump allocator; 0 until the first allocation.
static mut HEAP_NEXT: usize = 0;

/// Returns [`crate::ABI_VERSION`]; the host calls it first.
#[no_mangle]
pub extern "C" fn kiln_abi_version() -> i32 {
    crate::ABI_VERSION
}

/// Bump allocator: `size` bytes, 16-byte aligned, never reused, growing linear memory when needed; `0` when
/// memory cannot grow (past `limits.max_memory_mb`). The host calls it for data blobs and its buffers, which
/// live as long as the instance (`modules/ABI.md`, "Call order").
#[no_mangle]
pub extern "C" fn kiln_alloc(size: i32) -> i32 {
    if size < 0 {
        return 0;
    }
    // SAFETY: an instance is never called re-entrantly or from two threads (ABI.md, "Call order").
    unsafe {
        if HEAP_NEXT == 0 {
            HEAP_NEXT = &__heap_base as *const u8 as usize;
        }
        let start = match HEAP_NEXT.checked_add(15) {
            Some(n) => n & !15,
            None => return 0,
        };
        let end = match start.checked_add(size as usize) {
            Some(n) => n,
            None => return 0,
        };
        let have = wasm32::memory_size(0) * 65536;
        if end > have {
            let pages = (end - have + 65535) / 65536;
            if wasm32::memory_grow(0, pages) == usize::MAX {
                return 0;
            }
        }
        HEAP_NEXT = end;
        start as i32
    }
}

/// A panic traps (`unreachable`): the module moves to `crashed` and its restart policy applies. Its place
/// (`panic at src/module.rs:12`) is logged first at error level.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if let Some(location) = info.location() {
        let mut msg = crate::Msg::new();
        let _ = core::fmt::Write::write_fmt(
            &mut msg,
            format_args!("panic at {}:{}", location.file(), location.line()),
        );
        let _ = crate::log(crate::Level::Error, msg.as_str());
    }
    wasm32::unreachable()
}
