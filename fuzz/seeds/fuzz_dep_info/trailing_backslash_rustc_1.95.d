out/di.d: src/lib.rs src/m.rs src/sub\ dir/with\ space.txt src/hash#dollar$$.txt src/back\slash.txt src/colon:name.txt src/tab	name.txt src/trailing\ src/bs\\ space.txt

out/libdi.rmeta: src/lib.rs src/m.rs src/sub\ dir/with\ space.txt src/hash#dollar$$.txt src/back\slash.txt src/colon:name.txt src/tab	name.txt src/trailing\ src/bs\\ space.txt

src/lib.rs:
src/m.rs:
src/sub\ dir/with\ space.txt:
src/hash#dollar$$.txt:
src/back\slash.txt:
src/colon:name.txt:
src/tab	name.txt:
src/trailing\:
src/bs\\ space.txt:

# env-dep:DI_EQ=NAME
# env-dep:DI_MULTI=line1\nline2\\back\rcr=eq
# env-dep:DI_PLAIN=1.0
# env-dep:DI_UNSET
# env-dep:DI_WEIRD\\NAME=w
