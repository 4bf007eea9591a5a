//! Miller-Rabin's strong probable-prime test on eight (modulus, base) pairs at once, one per
//! 64-bit lane of AVX-512 registers. The prime search uses it twice: to base 2 on eight
//! candidates (a prime always passes; almost every composite fails), and then on the one
//! candidate left, to random bases, as Go's key generation does (FIPS 186-5, B.3.1, which asks
//! for five rounds at this size).
//!
//! Arithmetic: Montgomery multiplication on limbs of a fixed radix (R = 2^(BITS L) > 16n),
//! values kept below 4n between steps, so no conditional subtraction is ever needed. To base 2
//! the power is a squaring per bit of the exponent and a doubling (a shift) where the bit is
//! set; to other bases, 4-bit windows. Two radices, after the multiplier:
//! - 2^52 with AVX-512 IFMA's 52-bit multiply-adds ([`ifma`]): each product is added to two
//!   columns, its low and its high 52 bits, row by row;
//! - 2^28 with AVX-512F's 32-bit multiplier (`vpmuludq`, [`avx512`], for processors without
//!   IFMA): each 56-bit product is added whole to one column, column by column in registers.
//!   Measured here (`kernel_speed`): 160 us a 1024-bit test, against 65 with IFMA and 164 on
//!   64-bit words with ADX (253 without). (The same on AVX2, four lanes, was no faster than
//!   64-bit words.) Since 64-bit words need not fill eight lanes, they search faster, and
//!   this compilation runs only when asked for ([`Backend::SEARCH`]).
//!
//! The kernel is written once ([`kernel!`]) over a few lane operations and a radix
//! ([`radix52!`], [`radix28!`]), and compiled for each instruction set and on plain arrays
//! ([`portable52`], [`portable28`]: each operation the definition of the instruction it stands
//! for). So its logic is tested on every processor, and each instruction set is tested
//! against those definitions where it exists. Processors without IFMA, and other
//! architectures, test one pair at a time on 64-bit words ([`super::scalar`], its products on
//! x86-64 in [`super::adx`]).

use std::sync::OnceLock;

/// Which pairs pass (bit `i` for `moduli[i]` and `bases[i]`), or `None` when this size cannot
/// take the fast path. Numbers are little-endian 64-bit words; moduli odd, with their top bit
/// set, all of 16 or all of 32 words; each base in `2..=n-2`, as long as its modulus; at most
/// eight pairs.
pub(super) fn strong_probable_primes(moduli: &[&[u64]], bases: &[&[u64]]) -> Option<u8> {
    batch(moduli, bases, Backend::best())
}

/// Pairs [`strong_probable_primes`] tests at once for the price of one on this processor.
pub(super) fn lanes() -> usize {
    Backend::best().lanes()
}

/// Which compilation of the kernel runs a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Backend {
    /// AVX-512 IFMA, radix 2^52, eight lanes.
    #[cfg(target_arch = "x86_64")]
    Ifma,
    /// AVX-512F's 32-bit multiplier, radix 2^28, eight lanes.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// One pair at a time on 64-bit words ([`super::scalar`]): every processor.
    Words,
    #[cfg(test)]
    Portable52,
    #[cfg(test)]
    Portable28,
}

impl Backend {
    /// The kernels the search may use, fastest first. On 64-bit words with `mulx` and ADX
    /// ([`super::adx`], which every processor with AVX-512 has), a prime of 1024 bits took
    /// 7.0 ms here, against 8.4 ms with AVX-512F's eight lanes of 32-bit products (a batch
    /// tests the candidates after the first prime too); without ADX, words took 11.7 ms.
    pub(super) const SEARCH: &[Backend] = &[
        #[cfg(target_arch = "x86_64")]
        Backend::Ifma,
        Backend::Words,
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512,
    ];

    /// The fastest kernel this processor has, or the one `BERTH_PRIMES_KERNEL` names (`ifma`,
    /// `avx512`, `words`) if it has that: to measure here what another processor does.
    pub(super) fn best() -> Backend {
        static BEST: OnceLock<Backend> = OnceLock::new();
        *BEST.get_or_init(|| {
            let asked = std::env::var("BERTH_PRIMES_KERNEL").unwrap_or_default();
            let usable = || Backend::SEARCH.iter().copied().filter(|b| b.supported());
            let fast = |b: &Backend| *b != Backend::Words || Backend::words_beat_lanes();
            (usable().find(|b| b.name() == asked))
                .or_else(|| usable().find(fast))
                .unwrap_or(Backend::Words)
        })
    }

    /// Whether 64-bit words search faster than AVX-512F's lanes: with ADX (which a virtual
    /// machine can hide); elsewhere there are no lanes.
    fn words_beat_lanes() -> bool {
        #[cfg(target_arch = "x86_64")]
        return super::adx::available();
        #[cfg(not(target_arch = "x86_64"))]
        return true;
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::Ifma => "ifma",
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => "avx512",
            Backend::Words => "words",
            #[cfg(test)]
            Backend::Portable52 => "portable52",
            #[cfg(test)]
            Backend::Portable28 => "portable28",
        }
    }

    /// Whether this processor has the instructions.
    pub(super) fn supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::Ifma => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512ifma")
            }
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => is_x86_feature_detected!("avx512f"),
            _ => true,
        }
    }

    pub(super) fn lanes(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::Ifma => ifma::LANES,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => avx512::LANES,
            Backend::Words => 1,
            #[cfg(test)]
            Backend::Portable52 => portable52::LANES,
            #[cfg(test)]
            Backend::Portable28 => portable28::LANES,
        }
    }

    /// The pass mask of at most [`Backend::lanes`] pairs, checked by [`batch`].
    fn run(self, n: &[&[u64]], b: &[&[u64]]) -> u8 {
        assert!(self.supported(), "{self:?} on a processor without it");
        let pass = match self {
            // SAFETY: the processor has the instructions these are compiled for (asserted).
            #[cfg(target_arch = "x86_64")]
            Backend::Ifma => unsafe { ifma::test_words(n, b) },
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => unsafe { avx512::test_words(n, b) },
            Backend::Words => (0..n.len())
                .filter(|&l| words(n[l], b[l]))
                .fold(0, |pass, l| pass | 1 << l),
            #[cfg(test)]
            Backend::Portable52 => portable52::test_words(n, b),
            #[cfg(test)]
            Backend::Portable28 => portable28::test_words(n, b),
        };
        pass & (0xffu16 >> (8 - n.len())) as u8
    }
}

/// One pair on 64-bit words.
fn words(n: &[u64], b: &[u64]) -> bool {
    match n.len() {
        16 => {
            super::scalar::strong_probable_prime::<16>(n.try_into().unwrap(), b.try_into().unwrap())
        }
        32 => {
            super::scalar::strong_probable_prime::<32>(n.try_into().unwrap(), b.try_into().unwrap())
        }
        _ => unreachable!("batch takes 16 or 32 words"),
    }
}

/// Checks the batch and runs it on `backend`, as many pairs at a time as it has lanes.
pub(super) fn batch(moduli: &[&[u64]], bases: &[&[u64]], backend: Backend) -> Option<u8> {
    if moduli.is_empty() || moduli.len() > 8 || bases.len() != moduli.len() {
        return None;
    }
    let size = moduli[0].len();
    if size != 16 && size != 32 {
        return None;
    }
    for (m, b) in moduli.iter().zip(bases) {
        if m.len() != size || b.len() != size || m[0] & 1 == 0 || m[size - 1] >> 63 == 0 {
            return None;
        }
        let below = b.iter().rev().cmp(m.iter().rev()).is_lt();
        if !below || b.iter().all(|&w| w == 0) {
            return None;
        }
    }
    let lanes = backend.lanes();
    let chunks = moduli.chunks(lanes).zip(bases.chunks(lanes));
    Some((chunks.enumerate()).fold(0, |pass, (k, (m, b))| {
        pass | backend.run(m, b) << (k * lanes)
    }))
}

// Word arithmetic on whole numbers, shared by every compilation of the kernel.

/// Limbs of `bits` bits for numbers of `words` 64-bit words: `bits L >= 64 words + 4`, so that
/// R > 16n (a Montgomery product of two numbers below 4n is then below 2n).
const fn limbs(words: usize, bits: u32) -> usize {
    (64 * words + 4).div_ceil(bits as usize)
}

/// Little-endian 64-bit words to little-endian limbs of `bits` bits.
fn to_limbs<const N: usize, const L: usize>(w: &[u64; N], bits: u32) -> [u64; L] {
    let bits = bits as usize;
    std::array::from_fn(|k| {
        let (q, r) = (k * bits / 64, k * bits % 64);
        let mut v = w.get(q).copied().unwrap_or(0) >> r;
        if r + bits > 64 && q + 1 < N {
            v |= w[q + 1] << (64 - r);
        }
        v & ((1 << bits) - 1)
    })
}

/// `a - b` and whether it borrowed (`a < b`).
pub(super) fn sub<const N: usize>(a: &[u64; N], b: &[u64; N]) -> ([u64; N], bool) {
    let mut out = [0u64; N];
    let mut borrow = false;
    for i in 0..N {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(borrow as u64);
        out[i] = d2;
        borrow = b1 | b2;
    }
    (out, borrow)
}

/// `2x mod n` for `x < n`.
pub(super) fn double_mod<const N: usize>(x: &[u64; N], n: &[u64; N]) -> [u64; N] {
    let mut y = [0u64; N];
    let mut carry = 0;
    for i in 0..N {
        y[i] = (x[i] << 1) | carry;
        carry = x[i] >> 63;
    }
    let (d, borrow) = sub(&y, n);
    if carry == 1 || !borrow {
        d
    } else {
        y
    }
}

/// `-1/n mod 2^bits` (`bits` up to 64) for odd `n`, by Newton's iteration (each step doubles
/// the good bits, from 3: n n = 1 mod 8).
pub(super) fn neg_inverse(n0: u64, bits: u32) -> u64 {
    let mut x = n0;
    for _ in 0..5 {
        x = x.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(x)));
    }
    x.wrapping_neg() & (u64::MAX >> (64 - bits))
}

/// `2^(bits L) mod n` (R mod n, the Montgomery form of 1); `n` has its top bit set.
fn r_mod<const N: usize, const L: usize>(n: &[u64; N], bits: u32) -> [u64; N] {
    let (mut x, _) = sub(&[0u64; N], n); // 2^(64 N) - n = 2^(64 N) mod n
    for _ in 0..(bits as usize * L - 64 * N) {
        x = double_mod(&x, n);
    }
    x
}

/// `n - 1` for odd `n`.
pub(super) fn minus_one_words<const N: usize>(n: &[u64; N]) -> [u64; N] {
    let mut m = *n;
    m[0] -= 1; // n is odd
    m
}

/// Bits of `x` up to its highest set bit.
pub(super) fn bit_len<const N: usize>(x: &[u64; N]) -> usize {
    (0..N)
        .rev()
        .find(|&i| x[i] != 0)
        .map_or(0, |i| 64 * i + 64 - x[i].leading_zeros() as usize)
}

pub(super) fn trailing_zeros<const N: usize>(x: &[u64; N]) -> u32 {
    let zero_words = x.iter().take_while(|&&w| w == 0).count();
    let bits = x.get(zero_words).map_or(0, |w| w.trailing_zeros());
    64 * zero_words as u32 + bits
}

/// `x >> k`.
pub(super) fn shr<const N: usize>(x: &[u64; N], k: u32) -> [u64; N] {
    let (words, bits) = ((k / 64) as usize, k % 64);
    std::array::from_fn(|i| {
        let lo = x.get(i + words).copied().unwrap_or(0) >> bits;
        let hi = x.get(i + words + 1).copied().unwrap_or(0);
        lo | if bits == 0 { 0 } else { hi << (64 - bits) }
    })
}

/// The kernel over the lane operations of the module it is expanded in: a vector type `V` of
/// `LANES` 64-bit lanes, `zero`, `splat`, `lanes`, `add`, `sub`, `eq` and `blend` with the
/// meaning of the instructions they name, `shr_bits` (a shift right by the radix's bits), and
/// the radix: `BITS`, `montmul` and `montsqr` (from [`radix52!`] or [`radix28!`]). `$feature`
/// is put on every function (the target features, or `inline`).
macro_rules! kernel {
    (#[$feature:meta]) => {
        use super::{
            bit_len, double_mod, limbs, minus_one_words, neg_inverse, r_mod, shr, to_limbs,
            trailing_zeros,
        };

        const L16: usize = limbs(16, BITS);
        const L32: usize = limbs(32, BITS);

        /// The pass mask of at most `LANES` pairs of 16 or 32 words each (checked by the
        /// caller); lanes past the pairs repeat the first pair.
        #[$feature]
        pub(super) fn test_words(n: &[&[u64]], b: &[&[u64]]) -> u8 {
            match n[0].len() {
                16 => test::<16, L16, { 2 * L16 }>(n, b),
                32 => test::<32, L32, { 2 * L32 }>(n, b),
                _ => unreachable!("the caller checks the size"),
            }
        }

        /// One number per lane, limb by limb.
        #[$feature]
        fn columns<const L: usize>(limbs: &[[u64; L]; LANES]) -> [V; L] {
            std::array::from_fn(|k| lanes(std::array::from_fn(|l| limbs[l][k])))
        }

        const MASK: u64 = (1 << BITS) - 1;

        /// A limb's own bits.
        #[$feature]
        fn low(a: V) -> V {
            and(a, splat(MASK))
        }
        /// What a column carries to the next.
        #[$feature]
        fn high(a: V) -> V {
            shr_bits(a)
        }

        /// `2x` for `x < 2n` (below `4n`), limbs normalized to `BITS` bits.
        #[$feature]
        fn double<const L: usize>(x: &[V; L]) -> [V; L] {
            let mut c = zero();
            std::array::from_fn(|k| {
                let v = add(add(x[k], x[k]), c);
                c = high(v);
                low(v)
            })
        }

        /// Lanes whose limbs all equal.
        #[$feature]
        fn equal<const L: usize>(a: &[V; L], b: &[V; L]) -> u8 {
            let mut all = 0xff;
            for k in 0..L {
                all &= eq(a[k], b[k]);
            }
            all
        }

        /// The pass mask of `LANES` strong probable-prime tests, lane `l` testing `n[l]` to
        /// base `b[l]`.
        #[$feature]
        fn test<const N: usize, const L: usize, const C: usize>(n: &[&[u64]], b: &[&[u64]]) -> u8 {
            assert!(C == 2 * L && BITS as usize * L >= 64 * N + 4);
            let pick_lane = |v: &[&[u64]], l: usize| -> [u64; N] {
                v[if l < v.len() { l } else { 0 }]
                    .try_into()
                    .expect("N words")
            };
            let n: [[u64; N]; LANES] = std::array::from_fn(|l| pick_lane(n, l));
            let b: [[u64; N]; LANES] = std::array::from_fn(|l| pick_lane(b, l));
            let m = Modulus::<L, C> {
                n: columns(&std::array::from_fn(|l| to_limbs::<N, L>(&n[l], BITS))),
                n_inv: lanes(std::array::from_fn(|l| neg_inverse(n[l][0], BITS))),
            };
            let r: [[u64; N]; LANES] = std::array::from_fn(|l| r_mod::<N, L>(&n[l], BITS));
            let one = columns(&std::array::from_fn(|l| to_limbs(&r[l], BITS)));

            // n - 1 = d 2^s; x = b^d.
            let n_minus_1: [[u64; N]; LANES] = std::array::from_fn(|l| minus_one_words(&n[l]));
            let s: [u32; LANES] = std::array::from_fn(|l| trailing_zeros(&n_minus_1[l]));
            let d: [[u64; N]; LANES] = std::array::from_fn(|l| shr(&n_minus_1[l], s[l]));
            let mut x = if b
                .iter()
                .all(|b| b[0] == 2 && b[1..].iter().all(|&w| w == 0))
            {
                m.power_of_two(one, &d)
            } else {
                let two = std::array::from_fn(|l| double_mod(&r[l], &n[l]));
                m.power(one, &columns(&two.map(|t| to_limbs(&t, BITS))), &b, &d)
            };

            // Passes when b^d = 1, or b^(d 2^i) = -1 for some i < s. Out of Montgomery form,
            // x / R is below n + 1, so it compares limb for limb.
            let mut plain_one = [zero(); L];
            plain_one[0] = splat(1);
            let minus_one = {
                let mut minus = m.n;
                minus[0] = sub(minus[0], plain_one[0]); // n is odd: no borrow
                minus
            };
            let y = m.mul(&x, &plain_one);
            let mut pass = equal(&y, &plain_one) | equal(&y, &minus_one);
            let s_max = s.iter().copied().max().unwrap_or(0);
            for i in 1..s_max {
                x = m.sqr(&x);
                let below_s = (0..LANES)
                    .filter(|&l| i < s[l])
                    .fold(0u8, |m, l| m | 1 << l);
                pass |= below_s & equal(&m.mul(&x, &plain_one), &minus_one);
            }
            pass
        }

        /// A modulus per lane, as limbs, and `-1/n mod 2^BITS`.
        struct Modulus<const L: usize, const C: usize> {
            n: [V; L],
            n_inv: V,
        }

        impl<const L: usize, const C: usize> Modulus<L, C> {
            #[$feature]
            fn mul(&self, x: &[V; L], y: &[V; L]) -> [V; L] {
                montmul::<L, C>(x, y, &self.n, self.n_inv)
            }

            #[$feature]
            fn sqr(&self, x: &[V; L]) -> [V; L] {
                montsqr::<L, C>(x, &self.n, self.n_inv)
            }

            /// `2^d` in Montgomery form (below 4n), from `one`: a squaring per bit of `d`,
            /// and a doubling in the lanes whose bit is set. (A multiplication costs more than
            /// four doublings; windows would cost one per four bits.)
            #[$feature]
            fn power_of_two<const N: usize>(&self, one: [V; L], d: &[[u64; N]; LANES]) -> [V; L] {
                let mut x = one;
                let bits = d.iter().map(bit_len).max().unwrap_or(0);
                for i in (0..bits).rev() {
                    x = self.sqr(&x);
                    let set = (0..LANES)
                        .filter(|&l| d[l][i / 64] >> (i % 64) & 1 == 1)
                        .fold(0u8, |m, l| m | 1 << l);
                    if set != 0 {
                        let twice = double(&x);
                        for k in 0..L {
                            x[k] = blend(set, x[k], twice[k]);
                        }
                    }
                }
                x
            }

            /// `b^d` in Montgomery form (below 2n), from `one` and `two` (1 and 2 in
            /// Montgomery form): 4-bit windows, left to right, from a table of 16 powers.
            #[$feature]
            fn power<const N: usize>(
                &self,
                one: [V; L],
                two: &[V; L],
                b: &[[u64; N]; LANES],
                d: &[[u64; N]; LANES],
            ) -> [V; L] {
                // R^2 mod n, to bring the bases into Montgomery form: 2^(BITS L) in
                // Montgomery form, by powering 2 R mod n.
                let e = BITS as usize * L;
                let mut r2 = *two;
                for bit in (0..usize::BITS - 1 - e.leading_zeros()).rev() {
                    r2 = self.sqr(&r2);
                    if e >> bit & 1 == 1 {
                        r2 = self.mul(&r2, two);
                    }
                }
                let base = self.mul(&columns(&b.map(|b| to_limbs(&b, BITS))), &r2);
                let mut table = [one; 16];
                for j in 1..16 {
                    table[j] = self.mul(&table[j - 1], &base);
                }
                let digit = |w: usize| {
                    lanes(std::array::from_fn(|l| {
                        (d[l][w / 16] >> (4 * (w % 16))) & 15
                    }))
                };
                let pick = |digit: V| {
                    let mut acc = table[0];
                    for (j, tj) in table.iter().enumerate().skip(1) {
                        let m = eq(digit, splat(j as u64));
                        for k in 0..L {
                            acc[k] = blend(m, acc[k], tj[k]);
                        }
                    }
                    acc
                };
                let digits = 16 * N;
                let mut x = pick(digit(digits - 1));
                for w in (0..digits - 1).rev() {
                    for _ in 0..4 {
                        x = self.sqr(&x);
                    }
                    x = self.mul(&x, &pick(digit(w)));
                }
                x
            }
        }
    };
}

/// Radix 2^52 on IFMA's multiply-adds: a product's low 52 bits go to its column, the high 52
/// to the next. A column takes at most 4 L such halves plus carries, far below 2^64.
macro_rules! radix52 {
    (#[$feature:meta]) => {
        const BITS: u32 = 52;

        /// Adds `a b` (limbs below 2^52) to the columns of `t` from `k`.
        #[$feature]
        fn mac<const C: usize>(t: &mut [V; C], k: usize, a: V, b: V) {
            t[k] = madd52lo(t[k], a, b);
            t[k + 1] = madd52hi(t[k + 1], a, b);
        }

        /// `a b / R mod n`, below `2n` for `a, b < 4n` (R > 16n), limbs normalized to 52 bits.
        #[$feature]
        fn montmul<const L: usize, const C: usize>(
            a: &[V; L],
            b: &[V; L],
            n: &[V; L],
            n_inv: V,
        ) -> [V; L] {
            let mut t = [zero(); C];
            for (i, bi) in b.iter().enumerate() {
                for j in 0..L {
                    mac(&mut t, i + j, a[j], *bi);
                }
                reduce_column(&mut t, i, n, n_inv);
            }
            normalize(&t)
        }

        /// `a a / R mod n`: as [`montmul`], with each cross product computed once and doubled.
        #[$feature]
        fn montsqr<const L: usize, const C: usize>(a: &[V; L], n: &[V; L], n_inv: V) -> [V; L] {
            let mut t = [zero(); C];
            for i in 0..L {
                for j in i + 1..L {
                    mac(&mut t, i + j, a[j], a[i]);
                }
            }
            for c in t.iter_mut() {
                *c = add(*c, *c);
            }
            for (i, ai) in a.iter().enumerate() {
                mac(&mut t, 2 * i, *ai, *ai);
            }
            for i in 0..L {
                reduce_column(&mut t, i, n, n_inv);
            }
            normalize(&t)
        }

        /// Adds the multiple of `n` that clears column `i` of `t` (its low `BITS` bits), and
        /// moves the column's carry up. `t` holds the 2 L column sums of a product, which stay
        /// far enough below 2^64 (see the radix).
        #[$feature]
        fn reduce_column<const L: usize, const C: usize>(
            t: &mut [V; C],
            i: usize,
            n: &[V; L],
            n_inv: V,
        ) {
            let m = low(madd52lo(zero(), t[i], n_inv));
            for j in 0..L {
                mac(t, i + j, n[j], m);
            }
            t[i + 1] = add(t[i + 1], high(t[i]));
        }

        /// Columns L..2L as limbs of `BITS` bits (their value is below 2^(BITS L)).
        #[$feature]
        fn normalize<const L: usize, const C: usize>(t: &[V; C]) -> [V; L] {
            let mut c = zero();
            std::array::from_fn(|j| {
                let v = add(t[L + j], c);
                c = high(v);
                low(v)
            })
        }
    };
}

/// Radix 2^28 on the 32-bit multiplier: a product (below 2^56) goes whole to its column. A
/// column takes at most 2 L + 1 products plus carries: below 2^63.3 at L = 74 (2048 bits).
macro_rules! radix28 {
    (#[$feature:meta]) => {
        const BITS: u32 = 28;

        /// `a b / R mod n`, below `2n` for `a, b < 4n` (R > 16n), limbs normalized to 28 bits.
        /// By columns (product scanning): each column's products are summed in two registers
        /// (those of `a b` and those of `m n`, two dependency chains), then its Montgomery
        /// digit `m[k]` is chosen so that the column's low 28 bits vanish, and its carry moves
        /// up. No column is ever stored until it is an output limb.
        #[$feature]
        fn montmul<const L: usize, const C: usize>(
            a: &[V; L],
            b: &[V; L],
            n: &[V; L],
            n_inv: V,
        ) -> [V; L] {
            let mut m = [zero(); L];
            let mut out = [zero(); L];
            let mut carry = zero();
            for k in 0..C - 1 {
                let ab = column(a, b, k, k.saturating_sub(L - 1)..k.min(L - 1) + 1);
                carry = finish_column(k, add(ab, carry), &mut m, &mut out, n, n_inv);
            }
            out[L - 1] = carry;
            out
        }

        /// `a a / R mod n`, as [`montmul`], with each cross product computed once and doubled.
        #[$feature]
        fn montsqr<const L: usize, const C: usize>(a: &[V; L], n: &[V; L], n_inv: V) -> [V; L] {
            let mut m = [zero(); L];
            let mut out = [zero(); L];
            let mut carry = zero();
            for k in 0..C - 1 {
                let cross = column(a, a, k, k.saturating_sub(L - 1)..k.div_ceil(2));
                let mut sum = add(add(cross, cross), carry);
                if k % 2 == 0 {
                    sum = add(sum, mul32(a[k / 2], a[k / 2]));
                }
                carry = finish_column(k, sum, &mut m, &mut out, n, n_inv);
            }
            out[L - 1] = carry;
            out
        }

        /// The products `x[i] y[k - i]` for `i` in `range`, summed. Four products a step, in
        /// two sums: the compiler neither unrolls nor drops bounds checks here by itself, and
        /// the loop's own instructions would outnumber the arithmetic.
        #[$feature]
        fn column(x: &[V], y: &[V], k: usize, range: std::ops::Range<usize>) -> V {
            if range.is_empty() {
                return zero();
            }
            let ys = &y[k + 1 - range.end..=k - range.start];
            let (xc, yc) = (x[range].chunks_exact(4), ys.rchunks_exact(4));
            let (xr, yr) = (xc.remainder(), yc.remainder());
            let (mut s0, mut s1) = (zero(), zero());
            for (a, b) in xc.zip(yc) {
                s0 = add(s0, mul32(a[0], b[3]));
                s1 = add(s1, mul32(a[1], b[2]));
                s0 = add(s0, mul32(a[2], b[1]));
                s1 = add(s1, mul32(a[3], b[0]));
            }
            for (a, b) in xr.iter().zip(yr.iter().rev()) {
                s0 = add(s0, mul32(*a, *b));
            }
            add(s0, s1)
        }

        /// Adds column `k`'s multiples of `n` to `sum` (its products and the carry in): below
        /// column L, the new digit `m[k]` that clears its low bits; from there, the output
        /// limb. Returns the carry out.
        #[$feature]
        fn finish_column<const L: usize>(
            k: usize,
            sum: V,
            m: &mut [V; L],
            out: &mut [V; L],
            n: &[V; L],
            n_inv: V,
        ) -> V {
            let mn = column(m, n, k, k.saturating_sub(L - 1)..k.min(L));
            let mut col = add(sum, mn);
            if k < L {
                m[k] = low(mul32(col, n_inv));
                col = add(col, mul32(m[k], n[0]));
            } else {
                out[k - L] = low(col);
            }
            high(col)
        }
    };
}

/// The lanes of AVX-512 registers, eight 64-bit integers, on the instructions `$features`
/// enables: what the kernel needs besides its radix's multiplier.
macro_rules! avx512_lanes {
    ($features:literal) => {
        use std::arch::x86_64::*;

        type V = __m512i;
        pub(super) const LANES: usize = 8;

        #[target_feature(enable = $features)]
        pub(super) fn lanes(v: [u64; 8]) -> V {
            let [a, b, c, d, e, f, g, h] = v.map(|x| x as i64);
            _mm512_set_epi64(h, g, f, e, d, c, b, a)
        }
        #[cfg(test)]
        #[target_feature(enable = $features)]
        pub(super) fn to_array(v: V) -> [u64; 8] {
            // SAFETY: both are 64 bytes of plain integers.
            unsafe { std::mem::transmute::<V, [u64; 8]>(v) }
        }
        #[target_feature(enable = $features)]
        fn zero() -> V {
            _mm512_setzero_si512()
        }
        #[target_feature(enable = $features)]
        fn splat(x: u64) -> V {
            _mm512_set1_epi64(x as i64)
        }
        #[target_feature(enable = $features)]
        pub(super) fn add(a: V, b: V) -> V {
            _mm512_add_epi64(a, b)
        }
        #[target_feature(enable = $features)]
        pub(super) fn sub(a: V, b: V) -> V {
            _mm512_sub_epi64(a, b)
        }
        #[target_feature(enable = $features)]
        pub(super) fn and(a: V, b: V) -> V {
            _mm512_and_si512(a, b)
        }
        #[target_feature(enable = $features)]
        pub(super) fn eq(a: V, b: V) -> u8 {
            _mm512_cmpeq_epi64_mask(a, b)
        }
        #[target_feature(enable = $features)]
        pub(super) fn blend(m: u8, a: V, b: V) -> V {
            _mm512_mask_blend_epi64(m, a, b)
        }
    };
}

/// The kernel on AVX-512 IFMA.
#[cfg(target_arch = "x86_64")]
mod ifma {
    avx512_lanes!("avx512f,avx512ifma");
    kernel!(#[target_feature(enable = "avx512f,avx512ifma")]);
    radix52!(#[target_feature(enable = "avx512f,avx512ifma")]);

    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn madd52lo(a: V, b: V, c: V) -> V {
        _mm512_madd52lo_epu64(a, b, c)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn madd52hi(a: V, b: V, c: V) -> V {
        _mm512_madd52hi_epu64(a, b, c)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn shr_bits(a: V) -> V {
        _mm512_srli_epi64::<BITS>(a)
    }
}

/// The kernel on AVX-512F's 32-bit multiplier (processors with AVX-512 but not IFMA).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    avx512_lanes!("avx512f");
    kernel!(#[target_feature(enable = "avx512f")]);
    radix28!(#[target_feature(enable = "avx512f")]);

    #[target_feature(enable = "avx512f")]
    pub(super) fn mul32(a: V, b: V) -> V {
        _mm512_mul_epu32(a, b)
    }
    #[target_feature(enable = "avx512f")]
    pub(super) fn shr_bits(a: V) -> V {
        _mm512_srli_epi64::<BITS>(a)
    }
}

/// Each lane operation's definition, on arrays of any width: what the kernels compiled on
/// arrays run, and what the instruction sets are tested against.
#[cfg(test)]
mod defs {
    pub(super) fn each<const W: usize>(
        a: [u64; W],
        b: [u64; W],
        f: impl Fn(u64, u64) -> u64,
    ) -> [u64; W] {
        std::array::from_fn(|l| f(a[l], b[l]))
    }
    const M52: u64 = (1 << 52) - 1;
    /// The 104-bit product of the low 52 bits of `b` and `c`.
    fn product52(b: u64, c: u64) -> u128 {
        u128::from(b & M52) * u128::from(c & M52)
    }
    /// `vpmadd52luq`: `a` plus the low 52 bits of the product.
    pub(super) fn madd52lo<const W: usize>(a: [u64; W], b: [u64; W], c: [u64; W]) -> [u64; W] {
        std::array::from_fn(|l| a[l].wrapping_add(product52(b[l], c[l]) as u64 & M52))
    }
    /// `vpmadd52huq`: `a` plus the high 52 bits of the product.
    pub(super) fn madd52hi<const W: usize>(a: [u64; W], b: [u64; W], c: [u64; W]) -> [u64; W] {
        std::array::from_fn(|l| a[l].wrapping_add((product52(b[l], c[l]) >> 52) as u64))
    }
    /// `vpmuludq`: the 64-bit product of the low 32 bits of each lane.
    pub(super) fn mul32<const W: usize>(a: [u64; W], b: [u64; W]) -> [u64; W] {
        each(a, b, |x, y| (x & 0xffff_ffff) * (y & 0xffff_ffff))
    }
    pub(super) fn add<const W: usize>(a: [u64; W], b: [u64; W]) -> [u64; W] {
        each(a, b, u64::wrapping_add)
    }
    pub(super) fn sub<const W: usize>(a: [u64; W], b: [u64; W]) -> [u64; W] {
        each(a, b, u64::wrapping_sub)
    }
    pub(super) fn and<const W: usize>(a: [u64; W], b: [u64; W]) -> [u64; W] {
        each(a, b, |x, y| x & y)
    }
    pub(super) fn shr<const W: usize>(a: [u64; W], k: u32) -> [u64; W] {
        a.map(|x| x >> k)
    }
    /// Bit `l` set where lanes `l` are equal.
    pub(super) fn eq<const W: usize>(a: [u64; W], b: [u64; W]) -> u8 {
        (0..W).fold(0, |m, l| m | u8::from(a[l] == b[l]) << l)
    }
    /// Lane `l` of `b` where bit `l` of `m` is set, else of `a`.
    pub(super) fn blend<const W: usize>(m: u8, a: [u64; W], b: [u64; W]) -> [u64; W] {
        std::array::from_fn(|l| if m >> l & 1 == 1 { b[l] } else { a[l] })
    }
}

/// Eight lanes as an array, and the shift by the radix's `BITS`, for the compilations on
/// arrays.
#[cfg(test)]
macro_rules! array_lanes {
    () => {
        pub(super) const LANES: usize = 8;
        type V = [u64; LANES];

        fn lanes(v: V) -> V {
            v
        }
        fn zero() -> V {
            [0; LANES]
        }
        fn splat(x: u64) -> V {
            [x; LANES]
        }
        fn shr_bits(a: V) -> V {
            super::defs::shr(a, BITS)
        }
    };
}

/// The IFMA kernel on arrays.
#[cfg(test)]
mod portable52 {
    pub(super) use super::defs::{add, and, blend, eq, madd52hi, madd52lo, sub};

    array_lanes!();
    kernel!(#[inline]);
    radix52!(#[inline]);
}

/// The 32-bit-multiplier kernel on arrays.
#[cfg(test)]
mod portable28 {
    pub(super) use super::defs::{add, and, blend, eq, mul32, sub};

    array_lanes!();
    kernel!(#[inline]);
    radix28!(#[inline]);
}

#[cfg(test)]
mod tests {
    use super::Backend;
    use crypto_bigint::{Odd, Uint, U1024, U2048};
    use crypto_primes::hazmat::{random_odd_integer, MillerRabin, SetBits};
    use crypto_primes::{is_prime, random_prime, Flavor};
    use std::num::NonZeroU32;

    fn random<const LIMBS: usize>() -> Uint<LIMBS> {
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        let bits = NonZeroU32::new(Uint::<LIMBS>::BITS).unwrap();
        random_odd_integer::<Uint<LIMBS>, _>(&mut rng, bits, SetBits::Msb)
            .unwrap()
            .get()
    }

    fn prime<const LIMBS: usize>() -> Uint<LIMBS> {
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        random_prime(&mut rng, Flavor::Any, Uint::<LIMBS>::BITS)
    }

    fn base2<const LIMBS: usize>(moduli: &[Uint<LIMBS>], on: Backend) -> Option<u8> {
        let two = Uint::<LIMBS>::from_u8(2);
        let bases = vec![two; moduli.len()];
        strong(moduli, &bases, on)
    }

    fn strong<const LIMBS: usize>(
        moduli: &[Uint<LIMBS>],
        bases: &[Uint<LIMBS>],
        on: Backend,
    ) -> Option<u8> {
        let words = |v: &[Uint<LIMBS>]| -> Vec<Vec<u64>> {
            v.iter().map(|c| c.as_words().to_vec()).collect()
        };
        let (m, b) = (words(moduli), words(bases));
        let m: Vec<&[u64]> = m.iter().map(|w| &w[..]).collect();
        let b: Vec<&[u64]> = b.iter().map(|w| &w[..]).collect();
        super::batch(&m, &b, on)
    }

    /// A base in 2..=n-2.
    fn base_for<const LIMBS: usize>(n: &Uint<LIMBS>) -> Uint<LIMBS> {
        random::<LIMBS>()
            .rem_vartime(&n.wrapping_sub(&Uint::from_u8(3)).to_nz().unwrap())
            .wrapping_add(&Uint::from_u8(2))
    }

    /// The kernel agrees with crypto-primes' Miller-Rabin test, to base 2 and to random
    /// bases, on random numbers and on primes, for both sizes and partial batches.
    fn agrees<const LIMBS: usize>(rounds: usize, on: Backend) {
        for round in 0..rounds {
            let mut moduli: Vec<Uint<LIMBS>> = (0..8).map(|_| random()).collect();
            moduli[round % 8] = prime();
            let size = 8 - round % 3;
            let moduli = &moduli[..size];
            let pass = base2(moduli, on).expect("a batch the kernel takes");
            assert_eq!(u16::from(pass) >> size, 0);
            let bases: Vec<_> = moduli.iter().map(base_for).collect();
            let random_pass = strong(moduli, &bases, on).unwrap();
            for (i, c) in moduli.iter().enumerate() {
                let mr = MillerRabin::new(Odd::new(*c).unwrap());
                let expect = !mr.test_base_two().is_composite();
                assert_eq!(
                    pass >> i & 1 == 1,
                    expect,
                    "{on:?}, base 2, candidate {i} of round {round}: {c}"
                );
                let expect = !mr.test(&bases[i]).is_composite();
                assert_eq!(
                    random_pass >> i & 1 == 1,
                    expect,
                    "{on:?}, base {}, candidate {c}",
                    bases[i]
                );
            }
        }
    }

    /// Primes whose n - 1 has many factors 2 exercise the squarings after b^d.
    fn long_runs_of_squarings_pass(on: Backend) {
        for shift in [7u32, 70, 300] {
            let p = loop {
                let c: U1024 = random::<{ U1024::LIMBS }>()
                    .shr_vartime(shift)
                    .shl_vartime(shift);
                let c = c.wrapping_add(&Uint::ONE) | Uint::ONE.shl_vartime(1023);
                if is_prime(Flavor::Any, &c) {
                    break c;
                }
            };
            let bases: Vec<U1024> = (0..8).map(|_| base_for(&p)).collect();
            let pass = strong(&[p; 8], &bases, on).expect("a batch the kernel takes");
            assert_eq!(pass, 0xff, "{on:?}: {p} with 2^{shift} | p - 1");
        }
    }

    fn declines_what_it_cannot_take(on: Backend) {
        let n = prime::<{ U1024::LIMBS }>();
        let even = n.wrapping_sub(&Uint::ONE);
        assert_eq!(base2(&[even], on), None);
        assert_eq!(strong(&[n], &[n], on), None, "base not below n");
        assert_eq!(strong(&[n], &[Uint::ZERO], on), None, "base 0");
        let short = Uint::from_u64(u64::MAX << 1 | 1).shl_vartime(192);
        assert_eq!(base2::<4>(&[short], on), None);
        assert_eq!(base2::<{ U1024::LIMBS }>(&[], on), None);
        assert_eq!(base2(&[n; 9], on), None, "more than eight");
    }

    // The kernels' logic, compiled on plain arrays: runs on every processor.

    #[test]
    fn agrees_with_miller_rabin_1024() {
        agrees::<{ U1024::LIMBS }>(6, Backend::Portable52);
        agrees::<{ U1024::LIMBS }>(6, Backend::Portable28);
    }

    #[test]
    fn agrees_with_miller_rabin_2048() {
        agrees::<{ U2048::LIMBS }>(2, Backend::Portable52);
        agrees::<{ U2048::LIMBS }>(2, Backend::Portable28);
    }

    #[test]
    fn primes_with_long_runs_of_squarings_pass() {
        long_runs_of_squarings_pass(Backend::Portable52);
        long_runs_of_squarings_pass(Backend::Portable28);
    }

    #[test]
    fn declines_what_it_cannot_take_() {
        declines_what_it_cannot_take(Backend::Portable52);
        declines_what_it_cannot_take(Backend::Portable28);
    }

    /// The 2^28 radix's columns hold the largest sums they can get: every limb of both
    /// operands and of the modulus at its maximum (2^28 - 1), at 2048 bits.
    #[test]
    fn columns_of_the_largest_limbs_do_not_overflow() {
        let n = Uint::<{ U2048::LIMBS }>::MAX;
        let b = n.wrapping_sub(&Uint::from_u8(2));
        let expect = !MillerRabin::new(Odd::new(n).unwrap())
            .test(&b)
            .is_composite();
        for on in [Backend::Portable28, Backend::Portable52] {
            assert_eq!(strong(&[n], &[b], on), Some(u8::from(expect)), "{on:?}");
        }
    }

    // The same checks on the one-pair-at-a-time path of processors without vector units.

    #[test]
    fn scalar_agrees_with_miller_rabin() {
        agrees::<{ U1024::LIMBS }>(6, Backend::Words);
        agrees::<{ U2048::LIMBS }>(2, Backend::Words);
    }

    #[test]
    fn scalar_primes_with_long_runs_of_squarings_pass() {
        long_runs_of_squarings_pass(Backend::Words);
    }

    #[test]
    fn scalar_declines_what_it_cannot_take() {
        declines_what_it_cannot_take(Backend::Words);
    }

    /// The search's entry point answers for both sizes on every processor.
    #[test]
    fn the_search_always_has_a_kernel() {
        let n = prime::<{ U1024::LIMBS }>();
        let two = Uint::<{ U1024::LIMBS }>::from_u8(2);
        let answer = super::strong_probable_primes(&[n.as_words()], &[two.as_words()]);
        assert_eq!(answer, Some(1));
        assert!(super::Backend::best().supported());
    }

    // The same on each instruction set. These need a processor that has it: the test command
    // skips them elsewhere and counts the skip (`avx512_ifma` and `avx512f` in their names).

    /// Random lanes, every third an edge value.
    #[cfg(target_arch = "x86_64")]
    fn lanes_of<const W: usize>(round: usize) -> [[u64; W]; 3] {
        use rand_core10::Rng;
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        let edges = [
            0,
            1,
            (1 << 28) - 1,
            (1 << 52) - 1,
            1 << 52,
            u64::MAX,
            u64::MAX >> 1,
        ];
        let mut lane = |i: usize| {
            let r = rng.next_u64();
            if i.is_multiple_of(3) {
                edges[(r % edges.len() as u64) as usize]
            } else {
                r
            }
        };
        std::array::from_fn(|k| std::array::from_fn(|l| lane(l + round + k)))
    }

    #[cfg(target_arch = "x86_64")]
    fn on(backend: Backend) -> Backend {
        assert!(
            backend.supported(),
            "this processor has no {}",
            backend.name()
        );
        backend
    }

    /// The checks of a kernel compiled for an instruction set.
    #[cfg(target_arch = "x86_64")]
    macro_rules! isa_tests {
        ($backend:expr) => {
            #[test]
            fn agrees_with_miller_rabin() {
                agrees::<{ U1024::LIMBS }>(6, on($backend));
                agrees::<{ U2048::LIMBS }>(2, on($backend));
            }

            #[test]
            fn primes_with_long_runs_of_squarings_pass_() {
                long_runs_of_squarings_pass(on($backend));
            }

            #[test]
            fn declines_what_it_cannot_take_() {
                declines_what_it_cannot_take(on($backend));
            }
        };
    }

    #[cfg(target_arch = "x86_64")]
    mod avx512_ifma {
        use super::super::{defs, ifma, Backend};
        use super::*;

        isa_tests!(Backend::Ifma);

        /// Every lane operation gives what its definition gives, on random and edge lanes.
        #[test]
        fn instructions_match_their_definitions() {
            on(Backend::Ifma);
            for round in 0..2000 {
                let [a, b, c] = lanes_of::<8>(round);
                let m = (round % 256) as u8;
                // SAFETY: `on` checked the processor.
                unsafe {
                    let (va, vb, vc) = (ifma::lanes(a), ifma::lanes(b), ifma::lanes(c));
                    let v = ifma::to_array;
                    assert_eq!(v(ifma::madd52lo(va, vb, vc)), defs::madd52lo(a, b, c));
                    assert_eq!(v(ifma::madd52hi(va, vb, vc)), defs::madd52hi(a, b, c));
                    assert_eq!(v(ifma::add(va, vb)), defs::add(a, b));
                    assert_eq!(v(ifma::sub(va, vb)), defs::sub(a, b));
                    assert_eq!(v(ifma::and(va, vb)), defs::and(a, b));
                    assert_eq!(v(ifma::shr_bits(va)), defs::shr(a, 52));
                    assert_eq!(ifma::eq(va, va), defs::eq(a, a));
                    assert_eq!(ifma::eq(va, vb), defs::eq(a, b));
                    assert_eq!(v(ifma::blend(m, va, vb)), defs::blend(m, a, b));
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod avx512f {
        use super::super::{avx512, defs, Backend};
        use super::*;

        isa_tests!(Backend::Avx512);

        /// Every lane operation gives what its definition gives, on random and edge lanes.
        #[test]
        fn instructions_match_their_definitions() {
            on(Backend::Avx512);
            for round in 0..2000 {
                let [a, b, _] = lanes_of::<8>(round);
                let m = (round % 256) as u8;
                // SAFETY: `on` checked the processor.
                unsafe {
                    let (va, vb) = (avx512::lanes(a), avx512::lanes(b));
                    let v = avx512::to_array;
                    assert_eq!(v(avx512::mul32(va, vb)), defs::mul32(a, b));
                    assert_eq!(v(avx512::add(va, vb)), defs::add(a, b));
                    assert_eq!(v(avx512::sub(va, vb)), defs::sub(a, b));
                    assert_eq!(v(avx512::and(va, vb)), defs::and(a, b));
                    assert_eq!(v(avx512::shr_bits(va)), defs::shr(a, 28));
                    assert_eq!(avx512::eq(va, va), defs::eq(a, a));
                    assert_eq!(avx512::eq(va, vb), defs::eq(a, b));
                    assert_eq!(v(avx512::blend(m, va, vb)), defs::blend(m, a, b));
                }
            }
        }
    }
}

#[cfg(test)]
mod speed {
    /// Not a check: one base-2 test of a 1024-bit number per lane, per kernel, fastest of
    /// many batches, per number tested.
    /// `cargo test -p berth-primes --release -- --ignored --nocapture kernel_speed`
    #[test]
    #[ignore]
    fn kernel_speed() {
        use super::{batch, Backend};
        use crypto_bigint::U1024;
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        let n: Vec<[u64; 16]> = (0..8)
            .map(|_| {
                let mut w = super::super::random_words::<{ U1024::LIMBS }>(&mut rng);
                w[0] |= 1;
                w[15] |= 1 << 63;
                w
            })
            .collect();
        let two = {
            let mut w = [0u64; 16];
            w[0] = 2;
            w
        };
        let moduli: Vec<&[u64]> = n.iter().map(|w| &w[..]).collect();
        let bases = [&two[..]; 8];
        for b in Backend::SEARCH.iter().filter(|b| b.supported()) {
            let lanes = b.lanes();
            let best = (0..40)
                .map(|_| {
                    let t = std::time::Instant::now();
                    batch(&moduli[..lanes], &bases[..lanes], *b).unwrap();
                    t.elapsed()
                })
                .min()
                .unwrap();
            println!(
                "{:>6}: {:?} a number ({lanes} at a time)",
                b.name(),
                best / lanes as u32
            );
        }
    }
}
