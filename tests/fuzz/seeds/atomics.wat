;; Initial content for translate-to-fuzz with threads enabled; the harness then clears the memory's shared
;; flag (Kiln runs atomic instructions on an unshared memory, where a wait traps instead of blocking).
(module
  (memory (shared 1 1))
  (func $wait32 (export "wait32") (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))
  (func $wait64 (export "wait64") (drop (memory.atomic.wait64 (i32.const 8) (i64.const 0) (i64.const -1))))
  (func $wait_loop (export "wait_loop")
    (loop $l (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 1000000))) (br $l)))
  (func $rmw_loop (export "rmw_loop") (loop $l (drop (i32.atomic.rmw.add (i32.const 16) (i32.const 1))) (br $l)))
)
