#include <stdio.h>
  #  include "a.h"
/* c */ #include_next <b.h>
%:import "m.h"
??=include <t.h>
#inc\
lude "spliced.h"
#if __has_include(<tbb/tbb.h>) && __has_include_next ("x.h")
#include FT_H
#embed "d.bin"
const char *t = __TIME__ __DATE__ __TIMESTAMP__;
asm(".incbin \"x\"");
