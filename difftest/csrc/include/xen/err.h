/* Stub: see ../stubs.h. */
#include "../stubs.h"
