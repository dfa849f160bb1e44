//! Fixed-size CPU sets.
//!
//! [`CpuMask`] holds up to [`MAX_CPUS`] CPUs (Xen's x86 default `NR_CPUS` is 256) as four 64-bit
//! words. Every operation is O(words) = O(1) and never panics: CPUs at or above [`MAX_CPUS`] are
//! ignored by setters and reported absent by [`CpuMask::test`].

/// The largest number of physical CPUs a scheduler instance can manage.
pub const MAX_CPUS: usize = 256;

const WORDS: usize = MAX_CPUS / 64;

/// A set of physical CPU numbers, `0..MAX_CPUS`.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
#[repr(C)]
pub struct CpuMask {
    /// Bit `c % 64` of word `c / 64` is set when CPU `c` is in the set.
    pub bits: [u64; WORDS],
}

impl CpuMask {
    /// The empty set.
    pub const EMPTY: CpuMask = CpuMask { bits: [0; WORDS] };

    /// The set of CPUs `0..n` (all of them when `n >= MAX_CPUS`).
    pub fn first_n(n: usize) -> CpuMask {
        let mut m = CpuMask::EMPTY;
        let mut c = 0;
        while c < n && c < MAX_CPUS {
            m.set(c);
            c += 1;
        }
        m
    }

    /// The set holding only `cpu` (empty when `cpu` is out of range).
    pub fn single(cpu: usize) -> CpuMask {
        let mut m = CpuMask::EMPTY;
        m.set(cpu);
        m
    }

    /// The set's CPUs 0-63, as a word (the whole set when it holds no higher CPU).
    #[inline(always)]
    pub(crate) const fn word0(&self) -> u64 {
        self.bits[0]
    }

    /// [`Self::test_or_cycle`] of the set of CPUs 0-63 whose bits are `w`, without the
    /// other words.
    #[inline(always)]
    pub(crate) fn test_or_cycle_word0(w: u64, n: usize) -> Option<usize> {
        if w == 0 {
            return None;
        }
        if n < 64 {
            if w & (1u64 << n) != 0 {
                return Some(n);
            }
            let after = if n < 63 { w & (!0u64 << (n + 1)) } else { 0 };
            if after != 0 {
                return Some(after.trailing_zeros() as usize);
            }
        }
        Some(w.trailing_zeros() as usize)
    }

    fn word(cpu: usize) -> Option<(usize, u64)> {
        if cpu < MAX_CPUS {
            Some((cpu / 64, 1u64 << (cpu % 64)))
        } else {
            None
        }
    }

    /// Adds `cpu` to the set.
    pub fn set(&mut self, cpu: usize) {
        if let Some((w, b)) = Self::word(cpu) {
            if let Some(x) = self.bits.get_mut(w) {
                *x |= b;
            }
        }
    }

    /// Removes `cpu` from the set.
    pub fn clear(&mut self, cpu: usize) {
        if let Some((w, b)) = Self::word(cpu) {
            if let Some(x) = self.bits.get_mut(w) {
                *x &= !b;
            }
        }
    }

    /// `cpu`'s word and bit, for repeated tests of one CPU against many sets
    /// ([`Self::test_bit`]); out of range: a bit no set holds.
    pub(crate) fn bit(cpu: usize) -> (usize, u64) {
        Self::word(cpu).unwrap_or((0, 0))
    }

    /// Whether the CPU of [`Self::bit`] is in the set.
    #[inline]
    pub(crate) fn test_bit(&self, (w, b): (usize, u64)) -> bool {
        self.bits.get(w).is_some_and(|x| x & b != 0)
    }

    /// Whether `cpu` is in the set.
    pub fn test(&self, cpu: usize) -> bool {
        match Self::word(cpu) {
            Some((w, b)) => self.bits.get(w).is_some_and(|x| x & b != 0),
            None => false,
        }
    }

    /// Whether the two sets are equal (`==` without the `bcmp` call the compiler makes of
    /// it, which the hypervisor object must not depend on).
    pub(crate) fn same(&self, other: &CpuMask) -> bool {
        let mut d = 0u64;
        for (a, b) in self.bits.iter().zip(other.bits.iter()) {
            d |= a ^ b;
        }
        d == 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// The number of CPUs in the set.
    pub fn count(&self) -> u32 {
        self.bits.iter().map(|w| w.count_ones()).sum()
    }

    /// The intersection of two sets.
    pub fn and(&self, other: &CpuMask) -> CpuMask {
        let mut r = *self;
        for (a, b) in r.bits.iter_mut().zip(other.bits.iter()) {
            *a &= *b;
        }
        r
    }

    /// The union of two sets.
    pub fn or(&self, other: &CpuMask) -> CpuMask {
        let mut r = *self;
        for (a, b) in r.bits.iter_mut().zip(other.bits.iter()) {
            *a |= *b;
        }
        r
    }

    /// The CPUs of `self` that are not in `other`.
    pub fn and_not(&self, other: &CpuMask) -> CpuMask {
        let mut r = *self;
        for (a, b) in r.bits.iter_mut().zip(other.bits.iter()) {
            *a &= !*b;
        }
        r
    }

    /// The lowest CPU `>= from` in the set, if any.
    pub fn next_from(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut mask = if from < MAX_CPUS {
            !0u64 << (from % 64)
        } else {
            return None;
        };
        while let Some(word) = self.bits.get(w) {
            let x = word & mask;
            if x != 0 {
                return Some(w * 64 + x.trailing_zeros() as usize);
            }
            w += 1;
            mask = !0;
        }
        None
    }

    /// The lowest CPU in the set, if any.
    pub fn first(&self) -> Option<usize> {
        self.next_from(0)
    }

    /// Xen's `cpumask_cycle(n, mask)`: the next CPU after `n` in the set, wrapping around
    /// (possibly `n` itself when it is the only member).
    pub fn cycle(&self, n: usize) -> Option<usize> {
        self.next_from(n.saturating_add(1)).or_else(|| self.first())
    }

    /// Xen's `cpumask_test_or_cycle(n, mask)`: `n` when it is in the set, else [`Self::cycle`].
    pub fn test_or_cycle(&self, n: usize) -> Option<usize> {
        if self.test(n) {
            Some(n)
        } else {
            self.cycle(n)
        }
    }

    /// Calls `f` on each CPU of the set in the order of [`Self::iter_cycle`], for a set of
    /// CPUs below `n` (a loop over the words that can hold them, for the hot scans).
    #[inline(always)]
    pub(crate) fn for_each_cycle(&self, start: usize, n: usize, mut f: impl FnMut(usize)) {
        let words = n.div_ceil(64).clamp(1, WORDS);
        let (sw, low) = if start < words * 64 {
            (start / 64, (1u64 << (start % 64)) - 1)
        } else {
            (0, 0)
        };
        for step in 0..=words {
            // (`sw < words` and `step <= words`: one subtraction instead of a division.)
            let w = if sw + step >= words {
                sw + step - words
            } else {
                sw + step
            };
            let word = self.bits.get(w).copied().unwrap_or(0);
            let mut bits = if step == 0 {
                word & !low
            } else if step == words {
                word & low
            } else {
                word
            };
            while bits != 0 {
                f(w * 64 + bits.trailing_zeros() as usize);
                bits &= bits.wrapping_sub(1);
            }
        }
    }

    /// [`Self::for_each_cycle`] of the set of CPUs 0-63 whose bits are `w`: the CPUs
    /// `>= start`, then those below it.
    #[inline(always)]
    pub(crate) fn for_each_cycle_word0(w: u64, start: usize, mut f: impl FnMut(usize)) {
        let low = if start < 64 { (1u64 << start) - 1 } else { 0 };
        for mut bits in [w & !low, w & low] {
            while bits != 0 {
                f(bits.trailing_zeros() as usize);
                bits &= bits.wrapping_sub(1);
            }
        }
    }

    /// Iterates over the CPUs of the set in increasing order (a word at a time).
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        Bits {
            bits: self.bits,
            w: 0,
        }
    }

    /// Iterates over the CPUs of the set in Xen's cycle order from `start`: the CPUs
    /// `>= start` in increasing order, then those below it (the order in which repeated
    /// [`Self::test_or_cycle`] / [`Self::cycle`] calls visit them). A word at a time.
    pub fn iter_cycle(&self, start: usize) -> impl Iterator<Item = usize> {
        let (sw, low) = if start < MAX_CPUS {
            (start / 64, (1u64 << (start % 64)) - 1)
        } else {
            (0, 0)
        };
        CycleBits {
            bits: self.bits,
            sw,
            low,
            step: 0,
            cur: 0,
            base: 0,
        }
    }
}

/// Iterator over the set bits of a copy of a mask in cycle order: word `sw` without its
/// `low` bits, the following words, wrapping, and last the `low` bits of word `sw`.
struct CycleBits {
    bits: [u64; WORDS],
    sw: usize,
    low: u64,
    step: usize,
    cur: u64,
    base: usize,
}

impl Iterator for CycleBits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            if self.cur != 0 {
                let b = self.cur.trailing_zeros() as usize;
                self.cur &= self.cur.wrapping_sub(1);
                return Some(self.base + b);
            }
            if self.step > WORDS {
                return None;
            }
            let w = (self.sw + self.step) % WORDS;
            let word = self.bits.get(w).copied().unwrap_or(0);
            self.cur = if self.step == 0 {
                word & !self.low
            } else if self.step == WORDS {
                word & self.low
            } else {
                word
            };
            self.base = w * 64;
            self.step += 1;
        }
    }
}

/// Iterator over the set bits of a copy of a mask, lowest first.
struct Bits {
    bits: [u64; WORDS],
    w: usize,
}

impl Iterator for Bits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while let Some(x) = self.bits.get_mut(self.w) {
            if *x != 0 {
                let b = x.trailing_zeros() as usize;
                *x &= x.wrapping_sub(1);
                return Some(self.w * 64 + b);
            }
            self.w += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_wraps_like_xen() {
        let mut m = CpuMask::EMPTY;
        m.set(3);
        m.set(70);
        m.set(255);
        assert_eq!(m.cycle(3), Some(70));
        assert_eq!(m.cycle(70), Some(255));
        assert_eq!(m.cycle(255), Some(3));
        assert_eq!(m.test_or_cycle(70), Some(70));
        assert_eq!(m.test_or_cycle(71), Some(255));
        assert_eq!(CpuMask::single(5).cycle(5), Some(5));
        assert_eq!(CpuMask::EMPTY.cycle(5), None);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![3, 70, 255]);
        assert_eq!(m.count(), 3);
        m.set(256);
        assert!(!m.test(256));
        assert_eq!(CpuMask::first_n(300).count(), 256);
    }

    #[test]
    fn one_words_cycles_are_the_masks() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Sparse, dense and empty words; starts in and past the word.
            let w = match x % 4 {
                0 => 0,
                1 => x & (x >> 11) & (x >> 23),
                _ => x.rotate_left(17),
            };
            let n = (x >> 40) as usize % 300;
            let mut m = CpuMask::EMPTY;
            m.bits[0] = w;
            assert_eq!(m.word0(), w);
            assert_eq!(
                CpuMask::test_or_cycle_word0(w, n),
                m.test_or_cycle(n),
                "{w:#x} {n}"
            );
            let mut one = Vec::new();
            CpuMask::for_each_cycle_word0(w, n, |c| one.push(c));
            assert_eq!(one, m.iter_cycle(n).collect::<Vec<_>>(), "{w:#x} {n}");
        }
    }

    #[test]
    fn iter_cycle_visits_in_cycle_order() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut m = CpuMask::EMPTY;
            for w in 0..WORDS {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Sparse and dense words alike.
                m.bits[w] = if x.is_multiple_of(3) {
                    x & (x >> 11) & (x >> 23)
                } else {
                    x
                };
            }
            let start = (x % 300) as usize;
            // Reference: repeated test_or_cycle / cycle, clearing each visited CPU.
            let mut rest = m;
            let mut want = Vec::new();
            let mut c = rest.test_or_cycle(start);
            while let Some(v) = c {
                want.push(v);
                rest.clear(v);
                c = rest.cycle(v);
            }
            assert_eq!(m.iter_cycle(start).collect::<Vec<_>>(), want);
            let mut each = Vec::new();
            m.for_each_cycle(start, MAX_CPUS, |c| each.push(c));
            assert_eq!(each, want);
            // Within the words below `n`, for a set of CPUs below `n`.
            let n = 1 + (x % MAX_CPUS as u64) as usize;
            let below = m.and(&CpuMask::first_n(n));
            let want_below: Vec<_> = below.iter_cycle(start).collect();
            let mut each = Vec::new();
            below.for_each_cycle(start, n, |c| each.push(c));
            assert_eq!(each, want_below);
            let all: Vec<_> = (0..MAX_CPUS).filter(|&c| m.test(c)).collect();
            assert_eq!(m.iter().collect::<Vec<_>>(), all);
        }
    }
}
