/* Stand-in for Xen's xen/bitops.h, for compiling Xen's arch/x86/bitops.c. */
#include "stubs.h"
