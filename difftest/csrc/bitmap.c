/*
 * The out-of-line bitmap helpers that Xen 4.17's cpumask operations call on x86
 * (xen/common/bitmap.c's __bitmap_and, __bitmap_andnot and __bitmap_empty: the same
 * word loops, written for this harness). Compiled as their own translation unit, as in
 * Xen, so that the calls from rt.c stay calls.
 */
#include "stubs.h"

void __bitmap_and(unsigned long *dst, const unsigned long *bitmap1,
                  const unsigned long *bitmap2, int bits)
{
    int k;
    int nr = BITS_TO_LONGS(bits);

    for ( k = 0; k < nr; k++ )
        dst[k] = bitmap1[k] & bitmap2[k];
}

void __bitmap_andnot(unsigned long *dst, const unsigned long *bitmap1,
                     const unsigned long *bitmap2, int bits)
{
    int k;
    int nr = BITS_TO_LONGS(bits);

    for ( k = 0; k < nr; k++ )
        dst[k] = bitmap1[k] & ~bitmap2[k];
}

int __bitmap_empty(const unsigned long *bitmap, int bits)
{
    int k, lim = bits / BITS_PER_LONG;

    for ( k = 0; k < lim; ++k )
        if ( bitmap[k] )
            return 0;

    if ( bits % BITS_PER_LONG )
        if ( bitmap[k] & BITMAP_LAST_WORD_MASK(bits) )
            return 0;

    return 1;
}
