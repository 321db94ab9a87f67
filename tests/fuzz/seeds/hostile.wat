;; Initial content for binaryen's translate-to-fuzz (`wasm-opt -ttf ... --initial-fuzz`): one function per
;; way a call can try to outlast its budget or its cap. Binaryen keeps these functions and exports, adds its
;; random ones around them, gives the memory its own limits, and guards every loop with its hang limit,
;; which the harness then defuses (so the loops below really run until the budget interrupts them).
(module
  (import "fuzzing-support" "log-i32" (func $log (param i32)))
  (memory 1 1)
  (tag $t (param i32))
  ;; A loop with nothing in it.
  (func $spin (export "spin") (loop $l (br $l)))
  ;; The interrupt must not be caught: a catch_all around a runaway call, in a loop.
  (func $catch_spin (export "catch_spin") (loop $l (try (do (call $spin)) (catch_all)) (br $l)))
  ;; Host calls in a loop, charged to the budget; and the same inside a catch_all.
  (func $log_loop (export "log_loop") (loop $l (call $log (i32.const 7)) (br $l)))
  (func $catch_log (export "catch_log") (loop $l (try (do (call $log_loop)) (catch_all)) (br $l)))
  ;; Grow the memory until the cap says no, then keep asking.
  (func $grow (export "grow") (loop $l (drop (memory.grow (i32.const 1))) (br $l)))
  ;; Recursion until the stack overflows, and a catch_all around it.
  (func $rec (export "rec") (call $rec))
  (func $catch_rec (export "catch_rec") (loop $l (try (do (call $rec)) (catch_all)) (br $l)))
  ;; Exceptions thrown and caught in a loop.
  (func $throw_loop (export "throw_loop") (loop $l (try (do (throw $t (i32.const 1))) (catch_all)) (br $l)))
  ;; Tail calls that never return.
  (func $tail (export "tail") (return_call $tail))
  ;; Fill and copy memory in a loop (bulk memory).
  (func $fill_loop (export "fill_loop")
    (loop $l
      (memory.fill (i32.const 0) (i32.const 0) (i32.mul (memory.size) (i32.const 65536)))
      (br $l)))
)
