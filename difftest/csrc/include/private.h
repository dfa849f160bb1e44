/* Replaces xen/common/sched/private.h: see stubs.h. */
#include "stubs.h"
