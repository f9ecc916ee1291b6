//! Modes and languages: `-S` assembly, `-x c++` on a `.c` file, and C++
//! with g++ and clang++.

mod common;
use common::{COMPILERS, Env, Outcome, assert_ok, require_tool};

const C_SRC: &str = "#include <string.h>\nint f(const char *s) { return (int)strlen(s) * 3; }\n";

/// `-S` output is cached and identical, with and without `-o`, and is not
/// confused with the object of `-c`.
#[test]
fn assembly_output_is_cached() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("a.c", C_SRC);
        let s_args = ["-O2", "-S", "a.c", "-o", "a.s"];
        env.assert_same_as_bare_expect(Outcome::Miss, cc, &s_args, &["a.s"]);
        env.assert_same_as_bare_expect(Outcome::Hit, cc, &s_args, &["a.s"]);
        let asm = String::from_utf8(env.read("a.s")).expect("assembly is text");
        assert!(asm.contains("f:"), "{cc}: {asm}");

        // Default output name: a.s in the working directory.
        env.assert_same_as_bare_expect(Outcome::Hit, cc, &["-O2", "-S", "a.c"], &["a.s"]);
        // `-c` to the same name is another result: an object, not text.
        let c_args = ["-O2", "-c", "a.c", "-o", "a.s"];
        env.assert_same_as_bare_expect(Outcome::Miss, cc, &c_args, &["a.s"]);
        assert!(
            env.read("a.s").starts_with(b"\x7fELF"),
            "{cc}: not an object"
        );
        // And -S after it is its assembly again.
        env.assert_same_as_bare_expect(Outcome::Hit, cc, &s_args, &["a.s"]);
        assert_eq!(String::from_utf8(env.read("a.s")).unwrap(), asm, "{cc}");
    }
}

/// A `.c` file valid as C and as C++ whose meaning differs:
/// `sizeof('a')` is `sizeof(int)` in C and 1 in C++.
const BILINGUAL: &str = "int char_literal_size(void) { return sizeof('a'); }\n";

#[test]
fn x_cplusplus_on_a_c_file_is_another_language() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("a.c", BILINGUAL);
        let as_c = ["-O2", "-c", "a.c", "-o", "a.o"];
        let as_cxx = ["-x", "c++", "-O2", "-c", "a.c", "-o", "a.o"];
        env.assert_same_as_bare_expect(Outcome::Miss, cc, &as_c, &["a.o"]);
        let c_obj = env.read("a.o");
        env.assert_same_as_bare_expect(Outcome::Miss, cc, &as_cxx, &["a.o"]);
        let cxx_obj = env.read("a.o");
        assert_ne!(c_obj, cxx_obj, "{cc}: C and C++ objects must differ");
        env.assert_same_as_bare_expect(Outcome::Hit, cc, &as_cxx, &["a.o"]);
        env.assert_same_as_bare_expect(Outcome::Hit, cc, &as_c, &["a.o"]);
        // `-x c` spelled out is still C.
        env.assert_same_as_bare(cc, &["-x", "c", "-O2", "-c", "a.c", "-o", "a.o"], &["a.o"]);
        assert_eq!(env.read("a.o"), c_obj, "{cc}");

        // A source that is only valid C++ (a class) through -x c++.
        env.write(
            "k.c",
            "class K { public: int v; K() : v(7) {} };\nint g() { K k; return k.v; }\n",
        );
        let k = ["-x", "c++", "-c", "k.c", "-o", "k.o"];
        let out = env.assert_same_as_bare_expect(Outcome::Miss, cc, &k, &["k.o"]);
        assert_ok(&out);
        env.assert_same_as_bare_expect(Outcome::Hit, cc, &k, &["k.o"]);
    }
}

const CXX_SRC: &str = r#"#include <vector>
#include <numeric>
#include "shape.hpp"

int total(int n) {
    std::vector<Square> v;
    for (int i = 0; i < n; i++) v.emplace_back(i);
    return std::accumulate(v.begin(), v.end(), 0,
                           [](int acc, const Square &s) { return acc + s.area(); });
}
"#;

const CXX_HDR: &str = r#"#pragma once
class Square {
  public:
    explicit Square(int side) : side_(side) {}
    int area() const { return side_ * side_ * SCALE; }
  private:
    int side_;
};
"#;

#[test]
fn cplusplus_with_gxx_and_clangxx() {
    for cxx in ["g++", "clang++"] {
        require_tool(cxx);
        let env = Env::new();
        env.write("src/shape.cpp", CXX_SRC);
        env.write("src/shape.hpp", CXX_HDR);
        let args = [
            "-std=c++17",
            "-O2",
            "-DSCALE=2",
            "-c",
            "src/shape.cpp",
            "-o",
            "shape.o",
            "-MD",
        ];
        let out =
            env.assert_same_as_bare_expect(Outcome::Miss, cxx, &args, &["shape.o", "shape.d"]);
        assert_ok(&out);
        env.assert_same_as_bare_expect(Outcome::Hit, cxx, &args, &["shape.o", "shape.d"]);
        let deps = String::from_utf8(env.read("shape.d")).unwrap();
        assert!(
            deps.contains("shape.hpp") && deps.contains("vector"),
            "{cxx}: {deps}"
        );

        // A header edit misses, the revert hits.
        env.write(
            "src/shape.hpp",
            &CXX_HDR.replace("side_ * side_", "side_ + side_"),
        );
        env.assert_same_as_bare_expect(Outcome::Miss, cxx, &args, &["shape.o", "shape.d"]);
        env.write("src/shape.hpp", CXX_HDR);
        env.assert_same_as_bare_expect(Outcome::Hit, cxx, &args, &["shape.o", "shape.d"]);

        // Another standard is another result.
        let mut c20 = args;
        c20[0] = "-std=c++20";
        env.assert_same_as_bare_expect(Outcome::Miss, cxx, &c20, &["shape.o", "shape.d"]);
        env.assert_same_as_bare_expect(Outcome::Hit, cxx, &c20, &["shape.o", "shape.d"]);
    }
}

/// The C driver compiling a `.cpp` file compiles C++ too; the C++ driver on
/// the same command must give its own object (here the same bytes, so
/// sharing would be allowed).
#[test]
fn c_driver_on_a_cpp_file() {
    for (cc, cxx) in [("gcc", "g++"), ("clang", "clang++")] {
        require_tool(cxx);
        let env = Env::new();
        env.write("src/shape.cpp", CXX_SRC);
        env.write("src/shape.hpp", CXX_HDR);
        let args = ["-O2", "-DSCALE=3", "-c", "src/shape.cpp", "-o", "shape.o"];
        env.assert_same_as_bare_expect(Outcome::Miss, cc, &args, &["shape.o"]);
        env.assert_same_as_bare_expect(Outcome::Hit, cc, &args, &["shape.o"]);
        env.assert_same_as_bare(cxx, &args, &["shape.o"]);
        env.assert_same_as_bare_expect(Outcome::Hit, cxx, &args, &["shape.o"]);
    }
}

/// The C++ driver compiles a `.c` file as C++ (clang++ says so in a
/// warning), the C driver as C: `sizeof('a')` differs. After the C driver's
/// compile is cached, the C++ driver's must still give the C++ object and
/// the C++ driver's diagnostics, in either order.
#[test]
fn cxx_driver_on_a_c_file_is_not_the_c_result() {
    for (cc, cxx) in [("gcc", "g++"), ("clang", "clang++")] {
        require_tool(cxx);
        let env = Env::new();
        env.write("a.c", BILINGUAL);
        let args = ["-O2", "-c", "a.c", "-o", "a.o"];
        env.assert_same_as_bare_expect(Outcome::Miss, cc, &args, &["a.o"]);
        let c_obj = env.read("a.o");
        env.assert_same_as_bare(cxx, &args, &["a.o"]);
        assert_ne!(env.read("a.o"), c_obj, "{cxx}: compiled {cc}'s way");
        env.assert_same_as_bare(cxx, &args, &["a.o"]);
        env.assert_same_as_bare_expect(Outcome::Hit, cc, &args, &["a.o"]);
        assert_eq!(env.read("a.o"), c_obj, "{cc}");

        // C++ driver first, in a fresh cache.
        let env = Env::new();
        env.write("a.c", BILINGUAL);
        env.assert_same_as_bare(cxx, &args, &["a.o"]);
        env.assert_same_as_bare(cc, &args, &["a.o"]);
        assert_eq!(env.read("a.o"), c_obj, "{cc}: compiled {cxx}'s way");
    }
}
