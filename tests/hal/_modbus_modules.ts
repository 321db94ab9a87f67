/**
 * The test modules the Modbus runtime tests share, over TCP and RTU alike.
 *
 * @module
 */

/** Each tick, reads inputs 0 and 1 and outputs their values (v0, v1) and qualities (q0, q1). */
export const READER = `(module
  (import "kiln" "input" (func $input (param i32 i32) (result i32)))
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "v0q0v1q1")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func $read (param $i i32) (param $name i32)
    (drop (call $input (local.get $i) (i32.const 256)))
    (drop (call $output (local.get $name) (i32.const 2) (f64.load (i32.const 256))))
    (drop (call $output (i32.add (local.get $name) (i32.const 2)) (i32.const 2)
      (f64.convert_i32_u (i32.load (i32.const 264))))))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (call $read (i32.const 0) (i32.const 16))
    (call $read (i32.const 1) (i32.const 20))
    (i32.const 0)))`;

/**
 * On each API event: `kiln.actuate(0, payload[0])` and `kiln.actuate(1, 42)`; outputs each return code
 * (rc0, rc1) so the test sees what the module saw.
 */
export const DRIVER = `(module
  (import "kiln" "actuate" (func $actuate (param i32 f64) (result i32)))
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "rc0rc1")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_event") (param $kind i32) (param $ptr i32) (param $len i32) (result i32)
    (drop (call $output (i32.const 16) (i32.const 3)
      (f64.convert_i32_s (call $actuate (i32.const 0) (f64.convert_i32_u (i32.load8_u (local.get $ptr)))))))
    (drop (call $output (i32.const 19) (i32.const 3)
      (f64.convert_i32_s (call $actuate (i32.const 1) (f64.const 42)))))
    (i32.const 0)))`;
