/p/target/release/deps/demo-d177e613e279ebc6.d: src/lib.rs src/data\ dir/greeting\ file.txt

/p/target/release/deps/libdemo-d177e613e279ebc6.rlib: src/lib.rs src/data\ dir/greeting\ file.txt

/p/target/release/deps/libdemo-d177e613e279ebc6.rmeta: src/lib.rs src/data\ dir/greeting\ file.txt

src/lib.rs:
src/data\ dir/greeting\ file.txt:

# env-dep:CARGO_PKG_VERSION=0.1.0
# env-dep:DEMO_MULTI=two\nlines\\and\ra cr
# env-dep:DEMO_UNSET_VAR
# env-dep:FROM_BUILD=a b\\c
