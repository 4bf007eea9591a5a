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

/// Which pairs pass (bit `i` for `moduli[i]` and `bases[i]`), or `None` when this processor or
/// this size cannot take the fast path. Numbers are little-endian 64-bit words; moduli odd, with
/// their top bit set, all of 16 or all of 32 words; each base in `2..=n-2`, as long as its
/// modulus; at most eight pairs.
pub(super) fn strong_probable_primes(moduli: &[&[u64]], bases: &[&[u64]]) -> Option<u8> {
    #[cfg(target_arch = "x86_64")]
    {
        if moduli.is_empty() || moduli.len() > 8 || bases.len() != moduli.len() {
            return None;
        }
        if !ifma::available() {
            return None;
        }
        match moduli[0].len() {
            16 => ifma::strong::<16, 20, 40>(moduli, bases),
            32 => ifma::strong::<32, 40, 80>(moduli, bases),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (moduli, bases);
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod ifma {
    use std::arch::x86_64::*;

    const MASK: u64 = (1u64 << 52) - 1;

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512ifma")
    }

    /// `N` 64-bit words per number, `L` 52-bit limbs with `52 L >= 64 N + 2`, `C = 2 L`
    /// columns for a product.
    pub(super) fn strong<const N: usize, const L: usize, const C: usize>(
        moduli: &[&[u64]],
        bases: &[&[u64]],
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
        // SAFETY: `available()` was checked by the caller, so the processor has the features
        // this function is compiled for.
        let pass = unsafe { test::<N, L, C>(&n, &b) };
        Some(pass & (0xffu16 >> (8 - moduli.len())) as u8)
    }

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

    fn sub<const N: usize>(a: &[u64; N], b: &[u64; N]) -> ([u64; N], bool) {
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
    fn double_mod<const N: usize>(x: &[u64; N], n: &[u64; N]) -> [u64; N] {
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

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn lanes(v: [u64; 8]) -> __m512i {
        _mm512_set_epi64(
            v[7] as i64,
            v[6] as i64,
            v[5] as i64,
            v[4] as i64,
            v[3] as i64,
            v[2] as i64,
            v[1] as i64,
            v[0] as i64,
        )
    }

    /// One number per lane, limb by limb.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn columns<const L: usize>(limbs: &[[u64; L]; 8]) -> [__m512i; L] {
        std::array::from_fn(|k| lanes(std::array::from_fn(|l| limbs[l][k])))
    }

    /// `a b / R mod n`, below `2n` for `a, b < 2n`, limbs normalized to 52 bits.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn montmul<const L: usize, const C: usize>(
        a: &[__m512i; L],
        b: &[__m512i; L],
        n: &[__m512i; L],
        n_inv: __m512i,
    ) -> [__m512i; L] {
        let mut t = [_mm512_setzero_si512(); C];
        for (i, bi) in b.iter().enumerate() {
            for j in 0..L {
                t[i + j] = _mm512_madd52lo_epu64(t[i + j], a[j], *bi);
                t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a[j], *bi);
            }
            reduce_column(&mut t, i, n, n_inv);
        }
        normalize(&t)
    }

    /// `a a / R mod n`: as [`montmul`], with each cross product computed once and doubled.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn montsqr<const L: usize, const C: usize>(
        a: &[__m512i; L],
        n: &[__m512i; L],
        n_inv: __m512i,
    ) -> [__m512i; L] {
        let mut t = [_mm512_setzero_si512(); C];
        for i in 0..L {
            for j in i + 1..L {
                t[i + j] = _mm512_madd52lo_epu64(t[i + j], a[j], a[i]);
                t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a[j], a[i]);
            }
        }
        for (i, ai) in a.iter().enumerate() {
            t[2 * i] = _mm512_add_epi64(t[2 * i], t[2 * i]);
            t[2 * i] = _mm512_madd52lo_epu64(t[2 * i], *ai, *ai);
            t[2 * i + 1] = _mm512_add_epi64(t[2 * i + 1], t[2 * i + 1]);
            t[2 * i + 1] = _mm512_madd52hi_epu64(t[2 * i + 1], *ai, *ai);
        }
        for i in 0..L {
            reduce_column(&mut t, i, n, n_inv);
        }
        normalize(&t)
    }

    /// Adds the multiple of `n` that clears column `i` of `t` (its low 52 bits), and moves
    /// the column's carry up. `t` holds the 2 L column sums of a product: a column takes at
    /// most 4 L terms below 2^52 plus carries, far below 2^64.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn reduce_column<const L: usize, const C: usize>(
        t: &mut [__m512i; C],
        i: usize,
        n: &[__m512i; L],
        n_inv: __m512i,
    ) {
        let mask = _mm512_set1_epi64(MASK as i64);
        let m = _mm512_and_si512(
            _mm512_madd52lo_epu64(_mm512_setzero_si512(), t[i], n_inv),
            mask,
        );
        for j in 0..L {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], n[j], m);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], n[j], m);
        }
        t[i + 1] = _mm512_add_epi64(t[i + 1], _mm512_srli_epi64::<52>(t[i]));
    }

    /// Columns L..2L as 52-bit limbs (their value is below 2^(52 L)).
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn normalize<const L: usize, const C: usize>(t: &[__m512i; C]) -> [__m512i; L] {
        let mask = _mm512_set1_epi64(MASK as i64);
        let mut c = _mm512_setzero_si512();
        std::array::from_fn(|j| {
            let v = _mm512_add_epi64(t[L + j], c);
            c = _mm512_srli_epi64::<52>(v);
            _mm512_and_si512(v, mask)
        })
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

    /// Lanes whose limbs all equal.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn equal<const L: usize>(a: &[__m512i; L], b: &[__m512i; L]) -> u8 {
        let mut eq = 0xff;
        for k in 0..L {
            eq &= _mm512_cmpeq_epi64_mask(a[k], b[k]);
        }
        eq
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn test<const N: usize, const L: usize, const C: usize>(
        n: &[[u64; N]; 8],
        b: &[[u64; N]; 8],
    ) -> u8 {
        assert!(C == 2 * L && 52 * L >= 64 * N + 2);
        let modulus = columns(&std::array::from_fn(|l| to52::<N, L>(&n[l])));
        let n_inv = lanes(std::array::from_fn(|l| neg_inverse(n[l][0])));
        let mul = |x: &[__m512i; L], y: &[__m512i; L]| montmul::<L, C>(x, y, &modulus, n_inv);
        let sqr = |x: &[__m512i; L]| montsqr::<L, C>(x, &modulus, n_inv);
        let mut plain_one = [_mm512_setzero_si512(); L];
        plain_one[0] = _mm512_set1_epi64(1);
        let minus_one = {
            let mut m = modulus;
            m[0] = _mm512_sub_epi64(m[0], plain_one[0]); // n is odd: no borrow
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
        let pick = |digit: __m512i| {
            let mut acc = table[0];
            for (j, tj) in table.iter().enumerate().skip(1) {
                let m = _mm512_cmpeq_epi64_mask(digit, _mm512_set1_epi64(j as i64));
                for k in 0..L {
                    acc[k] = _mm512_mask_blend_epi64(m, acc[k], tj[k]);
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
}

#[cfg(test)]
mod tests {
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

    fn base2<const LIMBS: usize>(moduli: &[Uint<LIMBS>]) -> Option<u8> {
        let two = Uint::<LIMBS>::from_u8(2);
        let bases = vec![two; moduli.len()];
        strong(moduli, &bases)
    }

    fn strong<const LIMBS: usize>(moduli: &[Uint<LIMBS>], bases: &[Uint<LIMBS>]) -> Option<u8> {
        let words = |v: &[Uint<LIMBS>]| -> Vec<Vec<u64>> {
            v.iter().map(|c| c.as_words().to_vec()).collect()
        };
        let (m, b) = (words(moduli), words(bases));
        let m: Vec<&[u64]> = m.iter().map(|w| &w[..]).collect();
        let b: Vec<&[u64]> = b.iter().map(|w| &w[..]).collect();
        super::strong_probable_primes(&m, &b)
    }

    /// A base in 2..=n-2.
    fn base_for<const LIMBS: usize>(n: &Uint<LIMBS>) -> Uint<LIMBS> {
        random::<LIMBS>()
            .rem_vartime(&n.wrapping_sub(&Uint::from_u8(3)).to_nz().unwrap())
            .wrapping_add(&Uint::from_u8(2))
    }

    /// Where the kernel runs, it agrees with crypto-primes' Miller-Rabin test, to base 2 and
    /// to random bases, on random numbers and on primes, for both sizes and partial batches.
    fn agrees<const LIMBS: usize>(rounds: usize) {
        for round in 0..rounds {
            let mut moduli: Vec<Uint<LIMBS>> = (0..8).map(|_| random()).collect();
            moduli[round % 8] = prime();
            let size = 8 - round % 3;
            let moduli = &moduli[..size];
            let Some(pass) = base2(moduli) else {
                // Without AVX-512 IFMA the kernel must decline, and the search goes without it.
                #[cfg(target_arch = "x86_64")]
                assert!(!super::ifma::available());
                return;
            };
            assert_eq!(u16::from(pass) >> size, 0);
            let bases: Vec<_> = moduli.iter().map(base_for).collect();
            let random_pass = strong(moduli, &bases).unwrap();
            for (i, c) in moduli.iter().enumerate() {
                let mr = MillerRabin::new(Odd::new(*c).unwrap());
                let expect = !mr.test_base_two().is_composite();
                assert_eq!(
                    pass >> i & 1 == 1,
                    expect,
                    "base 2, candidate {i} of round {round}: {c}"
                );
                let expect = !mr.test(&bases[i]).is_composite();
                assert_eq!(
                    random_pass >> i & 1 == 1,
                    expect,
                    "base {}, candidate {c}",
                    bases[i]
                );
            }
        }
    }

    #[test]
    fn agrees_with_miller_rabin_1024() {
        agrees::<{ U1024::LIMBS }>(6);
    }

    #[test]
    fn agrees_with_miller_rabin_2048() {
        agrees::<{ U2048::LIMBS }>(2);
    }

    /// Primes whose n - 1 has many factors 2 exercise the squarings after b^d.
    #[test]
    fn primes_with_long_runs_of_squarings_pass() {
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
            let Some(pass) = strong(&[p; 8], &bases) else {
                return;
            };
            assert_eq!(pass, 0xff, "{p} with 2^{shift} | p - 1");
        }
    }

    #[test]
    fn declines_what_it_cannot_take() {
        let n = prime::<{ U1024::LIMBS }>();
        let even = n.wrapping_sub(&Uint::ONE);
        assert_eq!(base2(&[even]), None);
        assert_eq!(strong(&[n], &[n]), None, "base not below n");
        assert_eq!(strong(&[n], &[Uint::ZERO]), None, "base 0");
        assert_eq!(
            base2::<4>(&[Uint::from_u64(u64::MAX << 1 | 1).shl_vartime(192)]),
            None
        );
        assert_eq!(base2::<{ U1024::LIMBS }>(&[]), None);
    }
}
