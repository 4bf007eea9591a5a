//! Miller-Rabin's strong probable-prime test on eight (modulus, base) pairs at once, one per
//! 64-bit lane of AVX-512 registers, with the 52-bit multiply-add instructions (IFMA): eight
//! 1024-bit tests take about as long as one with crypto-bigint here. The prime search uses it
//! twice: to base 2 on eight candidates (a prime always passes; almost every composite fails),
//! and then on the one candidate left, to eight random bases, as Go's key generation does
//! (FIPS 186-5, B.3.1, which asks for five rounds at this size).
//!
//! Arithmetic: Montgomery multiplication (radix 2^52, R = 2^(52 L) > 4n), values kept below 2n
//! between steps, so no conditional subtraction is ever needed; a left-to-right exponentiation
//! with 4-bit windows.
//!
//! The kernel is written once ([`kernel!`]) over eleven lane operations and compiled twice:
//! on the AVX-512 intrinsics ([`ifma`], what the search uses) and on plain `[u64; 8]` arrays
//! ([`portable`], the same instructions' definitions lane by lane). So its logic is tested on
//! every processor, and the intrinsics are tested against their definitions where they exist.

/// Which pairs pass (bit `i` for `moduli[i]` and `bases[i]`), or `None` when this processor or
/// this size cannot take the fast path. Numbers are little-endian 64-bit words; moduli odd, with
/// their top bit set, all of 16 or all of 32 words; each base in `2..=n-2`, as long as its
/// modulus; at most eight pairs.
pub(super) fn strong_probable_primes(moduli: &[&[u64]], bases: &[&[u64]]) -> Option<u8> {
    #[cfg(target_arch = "x86_64")]
    if ifma::available() {
        return batch(moduli, bases, Backend::Ifma);
    }
    batch(moduli, bases, Backend::Scalar)
}

/// Pairs [`strong_probable_primes`] tests at once for the price of one: eight lanes with
/// IFMA, else one.
pub(super) fn lanes() -> usize {
    #[cfg(target_arch = "x86_64")]
    if ifma::available() {
        return 8;
    }
    1
}

/// Which compilation of the kernel runs a batch.
#[derive(Clone, Copy, Debug)]
enum Backend {
    #[cfg(target_arch = "x86_64")]
    Ifma,
    /// One pair at a time on 64-bit words ([`super::scalar`]): every processor.
    Scalar,
    #[cfg(test)]
    Portable,
}

/// [`strong_probable_primes`] on the portable compilation, on any processor.
#[cfg(test)]
pub(super) fn portable_batch(moduli: &[&[u64]], bases: &[&[u64]]) -> Option<u8> {
    batch(moduli, bases, Backend::Portable)
}

/// [`strong_probable_primes`] on 64-bit words, one pair at a time, on any processor.
#[cfg(test)]
pub(super) fn scalar_batch(moduli: &[&[u64]], bases: &[&[u64]]) -> Option<u8> {
    batch(moduli, bases, Backend::Scalar)
}

/// Checks the batch and runs it on `backend`.
fn batch(moduli: &[&[u64]], bases: &[&[u64]], backend: Backend) -> Option<u8> {
    if moduli.is_empty() || moduli.len() > 8 || bases.len() != moduli.len() {
        return None;
    }
    match moduli[0].len() {
        16 => strong::<16, 20, 40>(moduli, bases, backend),
        32 => strong::<32, 40, 80>(moduli, bases, backend),
        _ => None,
    }
}

const MASK: u64 = (1u64 << 52) - 1;

/// `N` 64-bit words per number, `L` 52-bit limbs with `52 L >= 64 N + 2`, `C = 2 L`
/// columns for a product.
fn strong<const N: usize, const L: usize, const C: usize>(
    moduli: &[&[u64]],
    bases: &[&[u64]],
    backend: Backend,
) -> Option<u8> {
    let mut n = [[0u64; N]; 8];
    let mut b = [[0u64; N]; 8];
    for l in 0..8 {
        // Lanes past the pairs repeat the first pair.
        let (m, base) = if l < moduli.len() {
            (moduli[l], bases[l])
        } else {
            (moduli[0], bases[0])
        };
        if m.len() != N || base.len() != N || m[0] & 1 == 0 || m[N - 1] >> 63 == 0 {
            return None;
        }
        n[l].copy_from_slice(m);
        b[l].copy_from_slice(base);
        let below = sub(&b[l], &n[l]).1;
        if !below || b[l].iter().all(|&w| w == 0) {
            return None;
        }
    }
    let pass = match backend {
        // SAFETY: `Backend::Ifma` is chosen only where `ifma::available()`, so the processor
        // has the features the kernel is compiled for.
        #[cfg(target_arch = "x86_64")]
        Backend::Ifma => unsafe { ifma::test::<N, L, C>(&n, &b) },
        Backend::Scalar => (0..moduli.len())
            .filter(|&l| super::scalar::strong_probable_prime(&n[l], &b[l]))
            .fold(0, |pass, l| pass | 1 << l),
        #[cfg(test)]
        Backend::Portable => portable::test::<N, L, C>(&n, &b),
    };
    Some(pass & (0xffu16 >> (8 - moduli.len())) as u8)
}

// Word arithmetic on whole numbers, shared by both compilations of the kernel.

/// Little-endian 64-bit words to little-endian 52-bit limbs.
fn to52<const N: usize, const L: usize>(w: &[u64; N]) -> [u64; L] {
    std::array::from_fn(|k| {
        let (q, r) = (k * 52 / 64, k * 52 % 64);
        let mut v = w.get(q).copied().unwrap_or(0) >> r;
        if r > 12 && q + 1 < N {
            v |= w[q + 1] << (64 - r);
        }
        v & MASK
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

/// `-1/n mod 2^52` for odd `n`, by Newton's iteration.
fn neg_inverse(n0: u64) -> u64 {
    let mut x = n0;
    for _ in 0..5 {
        x = x.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(x)));
    }
    x.wrapping_neg() & MASK
}

/// `2^(52 L) mod n` (R mod n, the Montgomery form of 1); `n` has its top bit set.
fn r_mod<const N: usize, const L: usize>(n: &[u64; N]) -> [u64; N] {
    let (mut x, _) = sub(&[0u64; N], n); // 2^(64 N) - n = 2^(64 N) mod n
    for _ in 0..(52 * L - 64 * N) {
        x = double_mod(&x, n);
    }
    x
}

fn minus_one_words<const N: usize>(n: &[u64; N]) -> [u64; N] {
    let mut m = *n;
    m[0] -= 1; // n is odd
    m
}

fn trailing_zeros<const N: usize>(x: &[u64; N]) -> u32 {
    let zero_words = x.iter().take_while(|&&w| w == 0).count();
    let bits = x.get(zero_words).map_or(0, |w| w.trailing_zeros());
    64 * zero_words as u32 + bits
}

/// `x >> k`.
fn shr<const N: usize>(x: &[u64; N], k: u32) -> [u64; N] {
    let (words, bits) = ((k / 64) as usize, k % 64);
    std::array::from_fn(|i| {
        let lo = x.get(i + words).copied().unwrap_or(0) >> bits;
        let hi = x.get(i + words + 1).copied().unwrap_or(0);
        lo | if bits == 0 { 0 } else { hi << (64 - bits) }
    })
}

/// The kernel over the lane operations of the module it is expanded in: a vector type `V` of
/// eight 64-bit lanes, and `zero`, `splat`, `lanes`, `madd52lo`, `madd52hi`, `add`, `sub`,
/// `and`, `shr52`, `eq` and `blend` with the meaning of the AVX-512 instructions they name.
/// `$feature` is put on every function (the target features, or `inline`).
macro_rules! kernel {
    (#[$feature:meta]) => {
        use super::MASK;
        use super::{double_mod, minus_one_words, neg_inverse, r_mod, shr, to52, trailing_zeros};

        /// One number per lane, limb by limb.
        #[$feature]
        fn columns<const L: usize>(limbs: &[[u64; L]; 8]) -> [V; L] {
            std::array::from_fn(|k| lanes(std::array::from_fn(|l| limbs[l][k])))
        }

        /// `a b / R mod n`, below `2n` for `a, b < 2n`, limbs normalized to 52 bits.
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
                    t[i + j] = madd52lo(t[i + j], a[j], *bi);
                    t[i + j + 1] = madd52hi(t[i + j + 1], a[j], *bi);
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
                    t[i + j] = madd52lo(t[i + j], a[j], a[i]);
                    t[i + j + 1] = madd52hi(t[i + j + 1], a[j], a[i]);
                }
            }
            for (i, ai) in a.iter().enumerate() {
                t[2 * i] = add(t[2 * i], t[2 * i]);
                t[2 * i] = madd52lo(t[2 * i], *ai, *ai);
                t[2 * i + 1] = add(t[2 * i + 1], t[2 * i + 1]);
                t[2 * i + 1] = madd52hi(t[2 * i + 1], *ai, *ai);
            }
            for i in 0..L {
                reduce_column(&mut t, i, n, n_inv);
            }
            normalize(&t)
        }

        /// Adds the multiple of `n` that clears column `i` of `t` (its low 52 bits), and moves
        /// the column's carry up. `t` holds the 2 L column sums of a product: a column takes at
        /// most 4 L terms below 2^52 plus carries, far below 2^64.
        #[$feature]
        fn reduce_column<const L: usize, const C: usize>(
            t: &mut [V; C],
            i: usize,
            n: &[V; L],
            n_inv: V,
        ) {
            let m = and(madd52lo(zero(), t[i], n_inv), splat(MASK));
            for j in 0..L {
                t[i + j] = madd52lo(t[i + j], n[j], m);
                t[i + j + 1] = madd52hi(t[i + j + 1], n[j], m);
            }
            t[i + 1] = add(t[i + 1], shr52(t[i]));
        }

        /// Columns L..2L as 52-bit limbs (their value is below 2^(52 L)).
        #[$feature]
        fn normalize<const L: usize, const C: usize>(t: &[V; C]) -> [V; L] {
            let mask = splat(MASK);
            let mut c = zero();
            std::array::from_fn(|j| {
                let v = add(t[L + j], c);
                c = shr52(v);
                and(v, mask)
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

        /// The pass mask of eight strong probable-prime tests, lane `l` testing `n[l]` to
        /// base `b[l]`.
        #[$feature]
        pub(super) fn test<const N: usize, const L: usize, const C: usize>(
            n: &[[u64; N]; 8],
            b: &[[u64; N]; 8],
        ) -> u8 {
            assert!(C == 2 * L && 52 * L >= 64 * N + 2);
            let modulus = columns(&std::array::from_fn(|l| to52::<N, L>(&n[l])));
            let n_inv = lanes(std::array::from_fn(|l| neg_inverse(n[l][0])));
            let mul = |x: &[V; L], y: &[V; L]| montmul::<L, C>(x, y, &modulus, n_inv);
            let sqr = |x: &[V; L]| montsqr::<L, C>(x, &modulus, n_inv);
            let mut plain_one = [zero(); L];
            plain_one[0] = splat(1);
            let minus_one = {
                let mut m = modulus;
                m[0] = sub(m[0], plain_one[0]); // n is odd: no borrow
                m
            };

            // R^2 mod n, to bring the bases into Montgomery form: 2^(52 L) in Montgomery form,
            // by powering 2 R mod n.
            let r: [[u64; N]; 8] = std::array::from_fn(|l| r_mod::<N, L>(&n[l]));
            let one = columns(&std::array::from_fn(|l| to52(&r[l])));
            let two = columns(&std::array::from_fn(|l| to52(&double_mod(&r[l], &n[l]))));
            let e = 52 * L;
            let mut r2 = two;
            for bit in (0..usize::BITS - 1 - e.leading_zeros()).rev() {
                r2 = sqr(&r2);
                if e >> bit & 1 == 1 {
                    r2 = mul(&r2, &two);
                }
            }
            let base = mul(&columns(&std::array::from_fn(|l| to52(&b[l]))), &r2);
            let mut table = [one; 16];
            for j in 1..16 {
                table[j] = mul(&table[j - 1], &base);
            }

            // n - 1 = d 2^s; x = b^d.
            let n_minus_1: [[u64; N]; 8] = std::array::from_fn(|l| minus_one_words(&n[l]));
            let s: [u32; 8] = std::array::from_fn(|l| trailing_zeros(&n_minus_1[l]));
            let d: [[u64; N]; 8] = std::array::from_fn(|l| shr(&n_minus_1[l], s[l]));
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
                    x = sqr(&x);
                }
                x = mul(&x, &pick(digit(w)));
            }

            // Passes when b^d = 1, or b^(d 2^i) = -1 for some i < s. Out of Montgomery form,
            // x / R is below n + 1, so it compares limb for limb.
            let y = mul(&x, &plain_one);
            let mut pass = equal(&y, &plain_one) | equal(&y, &minus_one);
            let s_max = s.iter().copied().max().unwrap_or(0);
            for i in 1..s_max {
                x = sqr(&x);
                let below_s = (0..8).filter(|&l| i < s[l]).fold(0u8, |m, l| m | 1 << l);
                pass |= below_s & equal(&mul(&x, &plain_one), &minus_one);
            }
            pass
        }
    };
}

/// The kernel on AVX-512 IFMA.
#[cfg(target_arch = "x86_64")]
mod ifma {
    use std::arch::x86_64::*;

    type V = __m512i;

    /// Whether this processor has the instructions, and `BERTH_PRIMES_NO_IFMA` does not ask to
    /// do without them (to measure here what a processor without them does).
    pub(super) fn available() -> bool {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512ifma")
                && std::env::var_os("BERTH_PRIMES_NO_IFMA").is_none()
        })
    }

    kernel!(#[target_feature(enable = "avx512f,avx512ifma")]);

    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn lanes(v: [u64; 8]) -> V {
        let [a, b, c, d, e, f, g, h] = v.map(|x| x as i64);
        _mm512_set_epi64(h, g, f, e, d, c, b, a)
    }
    #[cfg(test)]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn to_array(v: V) -> [u64; 8] {
        // SAFETY: both are 64 bytes of plain integers.
        unsafe { std::mem::transmute::<V, [u64; 8]>(v) }
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn zero() -> V {
        _mm512_setzero_si512()
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn splat(x: u64) -> V {
        _mm512_set1_epi64(x as i64)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn madd52lo(a: V, b: V, c: V) -> V {
        _mm512_madd52lo_epu64(a, b, c)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn madd52hi(a: V, b: V, c: V) -> V {
        _mm512_madd52hi_epu64(a, b, c)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn add(a: V, b: V) -> V {
        _mm512_add_epi64(a, b)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn sub(a: V, b: V) -> V {
        _mm512_sub_epi64(a, b)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn and(a: V, b: V) -> V {
        _mm512_and_si512(a, b)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn shr52(a: V) -> V {
        _mm512_srli_epi64::<52>(a)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn eq(a: V, b: V) -> u8 {
        _mm512_cmpeq_epi64_mask(a, b)
    }
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn blend(m: u8, a: V, b: V) -> V {
        _mm512_mask_blend_epi64(m, a, b)
    }
}

/// The kernel on arrays, each operation the definition of the instruction it stands for.
#[cfg(test)]
mod portable {
    type V = [u64; 8];

    kernel!(#[inline]);

    fn each(a: V, b: V, f: impl Fn(u64, u64) -> u64) -> V {
        std::array::from_fn(|l| f(a[l], b[l]))
    }
    pub(super) fn lanes(v: [u64; 8]) -> V {
        v
    }
    fn zero() -> V {
        [0; 8]
    }
    fn splat(x: u64) -> V {
        [x; 8]
    }
    /// The 104-bit product of the low 52 bits of `b` and `c`.
    fn product(b: u64, c: u64) -> u128 {
        u128::from(b & MASK) * u128::from(c & MASK)
    }
    /// `vpmadd52luq`: `a` plus the low 52 bits of the product.
    pub(super) fn madd52lo(a: V, b: V, c: V) -> V {
        std::array::from_fn(|l| a[l].wrapping_add(product(b[l], c[l]) as u64 & MASK))
    }
    /// `vpmadd52huq`: `a` plus the high 52 bits of the product.
    pub(super) fn madd52hi(a: V, b: V, c: V) -> V {
        std::array::from_fn(|l| a[l].wrapping_add((product(b[l], c[l]) >> 52) as u64))
    }
    pub(super) fn add(a: V, b: V) -> V {
        each(a, b, u64::wrapping_add)
    }
    pub(super) fn sub(a: V, b: V) -> V {
        each(a, b, u64::wrapping_sub)
    }
    pub(super) fn and(a: V, b: V) -> V {
        each(a, b, |x, y| x & y)
    }
    pub(super) fn shr52(a: V) -> V {
        a.map(|x| x >> 52)
    }
    /// Bit `l` set where lanes `l` are equal.
    pub(super) fn eq(a: V, b: V) -> u8 {
        (0..8).fold(0, |m, l| m | u8::from(a[l] == b[l]) << l)
    }
    /// Lane `l` of `b` where bit `l` of `m` is set, else of `a`.
    pub(super) fn blend(m: u8, a: V, b: V) -> V {
        std::array::from_fn(|l| if m >> l & 1 == 1 { b[l] } else { a[l] })
    }
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

    // The kernel's logic, compiled on plain arrays: runs on every processor.

    #[test]
    fn agrees_with_miller_rabin_1024() {
        agrees::<{ U1024::LIMBS }>(6, Backend::Portable);
    }

    #[test]
    fn agrees_with_miller_rabin_2048() {
        agrees::<{ U2048::LIMBS }>(2, Backend::Portable);
    }

    #[test]
    fn primes_with_long_runs_of_squarings_pass() {
        long_runs_of_squarings_pass(Backend::Portable);
    }

    #[test]
    fn declines_what_it_cannot_take_() {
        declines_what_it_cannot_take(Backend::Portable);
    }

    // The same checks on the one-pair-at-a-time path every processor runs without IFMA.

    #[test]
    fn scalar_agrees_with_miller_rabin() {
        agrees::<{ U1024::LIMBS }>(6, Backend::Scalar);
        agrees::<{ U2048::LIMBS }>(2, Backend::Scalar);
    }

    #[test]
    fn scalar_primes_with_long_runs_of_squarings_pass() {
        long_runs_of_squarings_pass(Backend::Scalar);
    }

    #[test]
    fn scalar_declines_what_it_cannot_take() {
        declines_what_it_cannot_take(Backend::Scalar);
    }

    /// The search's entry point answers for both sizes on every processor (on IFMA where the
    /// processor has it, else one pair at a time).
    #[test]
    fn the_search_always_has_a_kernel() {
        let n = prime::<{ U1024::LIMBS }>();
        let two = Uint::<{ U1024::LIMBS }>::from_u8(2);
        let answer = super::strong_probable_primes(&[n.as_words()], &[two.as_words()]);
        assert_eq!(answer, Some(1));
    }

    // The same on the AVX-512 instructions. These need a processor that has them: the test
    // command skips them elsewhere and counts the skip (`avx512_ifma` in their names).

    #[cfg(target_arch = "x86_64")]
    mod avx512_ifma {
        use super::super::{ifma, portable, Backend};
        use super::*;

        fn on_ifma() -> Backend {
            assert!(
                ifma::available(),
                "this processor has no AVX-512 IFMA, or BERTH_PRIMES_NO_IFMA is set"
            );
            Backend::Ifma
        }

        /// Every lane operation gives what its definition gives, on random and edge lanes.
        #[test]
        fn instructions_match_their_definitions() {
            on_ifma();
            let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
            use rand_core10::Rng;
            let edges = [0, 1, super::super::MASK, 1 << 52, u64::MAX, u64::MAX >> 1];
            let mut lane = |i: usize| {
                let r = rng.next_u64();
                if i.is_multiple_of(3) {
                    edges[(r % edges.len() as u64) as usize]
                } else {
                    r
                }
            };
            for round in 0..2000 {
                let (a, b, c): ([u64; 8], [u64; 8], [u64; 8]) = (
                    std::array::from_fn(|l| lane(l + round)),
                    std::array::from_fn(|l| lane(l + round + 1)),
                    std::array::from_fn(|l| lane(l + round + 2)),
                );
                let m = (round % 256) as u8;
                // SAFETY: `on_ifma` checked the processor.
                unsafe {
                    let (va, vb, vc) = (ifma::lanes(a), ifma::lanes(b), ifma::lanes(c));
                    let v = ifma::to_array;
                    assert_eq!(v(ifma::madd52lo(va, vb, vc)), portable::madd52lo(a, b, c));
                    assert_eq!(v(ifma::madd52hi(va, vb, vc)), portable::madd52hi(a, b, c));
                    assert_eq!(v(ifma::add(va, vb)), portable::add(a, b));
                    assert_eq!(v(ifma::sub(va, vb)), portable::sub(a, b));
                    assert_eq!(v(ifma::and(va, vb)), portable::and(a, b));
                    assert_eq!(v(ifma::shr52(va)), portable::shr52(a));
                    assert_eq!(ifma::eq(va, va), portable::eq(a, a));
                    assert_eq!(ifma::eq(va, vb), portable::eq(a, b));
                    assert_eq!(v(ifma::blend(m, va, vb)), portable::blend(m, a, b));
                }
            }
        }

        #[test]
        fn agrees_with_miller_rabin() {
            agrees::<{ U1024::LIMBS }>(6, on_ifma());
            agrees::<{ U2048::LIMBS }>(2, on_ifma());
        }

        #[test]
        fn primes_with_long_runs_of_squarings_pass_() {
            long_runs_of_squarings_pass(on_ifma());
        }

        #[test]
        fn declines_what_it_cannot_take_() {
            declines_what_it_cannot_take(on_ifma());
        }
    }
}
