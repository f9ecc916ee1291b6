//! Modes and languages: `-S` assembly, `-x c++` on a `.c` file, and C++
//! with g++ and clang++.

use crate::harness::{COMPILERS, Env, assert_ok, require_tool};

const C_SRC: &str = "#include <string.h>\nint f(const char *s) { return (int)strlen(s) * 3; }\n";

/// `-S` output is cached and identical, with and without `-o`, and is not
/// confused with the object of `-c`.
#[test]
fn assembly_output_is_cached() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("a.c", C_SRC);
        let s_args = ["-O2", "-S", "a.c", "-o", "a.s"];
        env.like_bare(cc, &s_args, &["a.s"]).miss().run();
        env.like_bare(cc, &s_args, &["a.s"]).hit().run();
        let asm = String::from_utf8(env.read("a.s")).expect("assembly is text");
        assert!(asm.contains("f:"), "{cc}: {asm}");

        // Default output name: a.s in the working directory.
        env.like_bare(cc, &["-O2", "-S", "a.c"], &["a.s"])
            .hit()
            .run();
        // `-c` to the same name is another result: an object, not text.
        let c_args = ["-O2", "-c", "a.c", "-o", "a.s"];
        env.like_bare(cc, &c_args, &["a.s"]).miss().run();
        assert!(
            env.read("a.s").starts_with(b"\x7fELF"),
            "{cc}: not an object"
        );
        // And -S after it is its assembly again.
        env.like_bare(cc, &s_args, &["a.s"]).hit().run();
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
        env.like_bare(cc, &as_c, &["a.o"]).miss().run();
        let c_obj = env.read("a.o");
        env.like_bare(cc, &as_cxx, &["a.o"]).miss().run();
        let cxx_obj = env.read("a.o");
        assert_ne!(c_obj, cxx_obj, "{cc}: C and C++ objects must differ");
        env.like_bare(cc, &as_cxx, &["a.o"]).hit().run();
        env.like_bare(cc, &as_c, &["a.o"]).hit().run();
        // `-x c` spelled out is still C.
        env.like_bare(cc, &["-x", "c", "-O2", "-c", "a.c", "-o", "a.o"], &["a.o"])
            .run();
        assert_eq!(env.read("a.o"), c_obj, "{cc}");

        // A source that is only valid C++ (a class) through -x c++.
        env.write(
            "k.c",
            "class K { public: int v; K() : v(7) {} };\nint g() { K k; return k.v; }\n",
        );
        let k = ["-x", "c++", "-c", "k.c", "-o", "k.o"];
        let out = env.like_bare(cc, &k, &["k.o"]).miss().run().out;
        assert_ok(&out);
        env.like_bare(cc, &k, &["k.o"]).hit().run();
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
        let out = env
            .like_bare(cxx, &args, &["shape.o", "shape.d"])
            .miss()
            .run()
            .out;
        assert_ok(&out);
        env.like_bare(cxx, &args, &["shape.o", "shape.d"])
            .hit()
            .run();
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
        env.like_bare(cxx, &args, &["shape.o", "shape.d"])
            .miss()
            .run();
        env.write("src/shape.hpp", CXX_HDR);
        env.like_bare(cxx, &args, &["shape.o", "shape.d"])
            .hit()
            .run();

        // Another standard is another result.
        let mut c20 = args;
        c20[0] = "-std=c++20";
        env.like_bare(cxx, &c20, &["shape.o", "shape.d"])
            .miss()
            .run();
        env.like_bare(cxx, &c20, &["shape.o", "shape.d"])
            .hit()
            .run();
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
        env.like_bare(cc, &args, &["shape.o"]).miss().run();
        env.like_bare(cc, &args, &["shape.o"]).hit().run();
        env.like_bare(cxx, &args, &["shape.o"]).run();
        env.like_bare(cxx, &args, &["shape.o"]).hit().run();
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
        env.like_bare(cc, &args, &["a.o"]).miss().run();
        let c_obj = env.read("a.o");
        env.like_bare(cxx, &args, &["a.o"]).run();
        assert_ne!(env.read("a.o"), c_obj, "{cxx}: compiled {cc}'s way");
        env.like_bare(cxx, &args, &["a.o"]).run();
        env.like_bare(cc, &args, &["a.o"]).hit().run();
        assert_eq!(env.read("a.o"), c_obj, "{cc}");

        // C++ driver first, in a fresh cache.
        let env = Env::new();
        env.write("a.c", BILINGUAL);
        env.like_bare(cxx, &args, &["a.o"]).run();
        env.like_bare(cc, &args, &["a.o"]).run();
        assert_eq!(env.read("a.o"), c_obj, "{cc}: compiled {cxx}'s way");
    }
}
