//! A quick filter for the prime search: Fermat's test to base 2 (a prime `n` has
//! `2^(n-1) = 1 mod n`) on eight candidates at once, one per 64-bit lane of AVX-512 registers,
//! with the 52-bit multiply-add instructions (IFMA). Eight 1024-bit tests take about as long as
//! one and a half did with crypto-bigint here. A prime always passes; almost every composite
//! fails, and the few that pass still meet the full BPSW test after this one, so the filter
//! decides nothing on its own: it only spares the slow test the candidates that are surely
//! composite.
//!
//! Arithmetic: Montgomery multiplication (radix 2^52, R = 2^(52 L) > 4n), values kept below 2n
//! between steps, so no conditional subtraction is ever needed; a left-to-right exponentiation
//! with 4-bit windows over a table of 2^j R mod n.

/// Which of the candidates pass (bit `i` for `batch[i]`), or `None` when this processor or
/// this size cannot take the fast path. Candidates are little-endian 64-bit words, odd, with
/// their top bit set, all of 16 or all of 32 words; at most eight.
pub(super) fn base2(batch: &[&[u64]]) -> Option<u8> {
    #[cfg(target_arch = "x86_64")]
    {
        if batch.is_empty() || batch.len() > 8 || !ifma::available() {
            return None;
        }
        match batch[0].len() {
            16 => ifma::base2::<16, 20, 40>(batch),
            32 => ifma::base2::<32, 40, 80>(batch),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = batch;
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

    /// `N` 64-bit words per candidate, `L` 52-bit limbs with `52 L >= 64 N + 2`, `C = 2 L`
    /// columns for a product.
    pub(super) fn base2<const N: usize, const L: usize, const C: usize>(
        batch: &[&[u64]],
    ) -> Option<u8> {
        let mut words = [[0u64; N]; 8];
        for (l, w) in words.iter_mut().enumerate() {
            let c = batch.get(l).unwrap_or(&batch[0]);
            if c.len() != N || c[0] & 1 == 0 || c[N - 1] >> 63 == 0 {
                return None;
            }
            w.copy_from_slice(c);
        }
        // SAFETY: `available()` was checked by the caller, so the processor has the features
        // this function is compiled for.
        let pass = unsafe { fermat::<N, L, C>(&words) };
        Some(pass & (0xffu16 >> (8 - batch.len())) as u8)
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

    /// `2^j R mod n` for `j` in 0..16, `R = 2^(52 L)`; `n` has its top bit set.
    fn powers<const N: usize, const L: usize>(n: &[u64; N]) -> [[u64; N]; 16] {
        let (mut x, _) = sub(&[0u64; N], n); // 2^(64 N) - n = 2^(64 N) mod n
        for _ in 0..(52 * L - 64 * N) {
            x = double_mod(&x, n);
        }
        let mut t = [x; 16];
        for j in 1..16 {
            t[j] = double_mod(&t[j - 1], n);
        }
        t
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

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn fermat<const N: usize, const L: usize, const C: usize>(n: &[[u64; N]; 8]) -> u8 {
        assert!(C == 2 * L && 52 * L >= 64 * N + 2);
        let powers: [[[u64; N]; 16]; 8] = std::array::from_fn(|l| powers::<N, L>(&n[l]));
        let table: [[__m512i; L]; 16] =
            std::array::from_fn(|j| columns(&std::array::from_fn(|l| to52(&powers[l][j]))));
        let modulus = columns(&std::array::from_fn(|l| to52::<N, L>(&n[l])));
        let n_inv = lanes(std::array::from_fn(|l| neg_inverse(n[l][0])));
        // The exponent n - 1: n is odd, so only the lowest word changes.
        let digit = |w: usize| {
            lanes(std::array::from_fn(|l| {
                let word = if w < 16 { n[l][0] - 1 } else { n[l][w / 16] };
                (word >> (4 * (w % 16))) & 15
            }))
        };
        let pick = |d: __m512i| {
            let mut acc = table[0];
            for (j, tj) in table.iter().enumerate().skip(1) {
                let m = _mm512_cmpeq_epi64_mask(d, _mm512_set1_epi64(j as i64));
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
                x = montsqr::<L, C>(&x, &modulus, n_inv);
            }
            x = montmul::<L, C>(&x, &pick(digit(w)), &modulus, n_inv);
        }
        // Out of Montgomery form: x / R is below n + 1, so it is 1 exactly when 2^(n-1) = 1.
        let mut one = [_mm512_setzero_si512(); L];
        one[0] = _mm512_set1_epi64(1);
        let y = montmul::<L, C>(&x, &one, &modulus, n_inv);
        let mut pass = _mm512_cmpeq_epi64_mask(y[0], _mm512_set1_epi64(1));
        for yk in &y[1..] {
            pass &= _mm512_cmpeq_epi64_mask(*yk, _mm512_setzero_si512());
        }
        pass
    }
}

#[cfg(test)]
mod tests {
    use crypto_bigint::{Odd, Uint, U1024, U2048};
    use crypto_primes::hazmat::{random_odd_integer, MillerRabin, SetBits};
    use crypto_primes::{is_prime, Flavor};
    use std::num::NonZeroU32;

    fn random<const LIMBS: usize>() -> Uint<LIMBS> {
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        let bits = NonZeroU32::new(Uint::<LIMBS>::BITS).unwrap();
        random_odd_integer::<Uint<LIMBS>, _>(&mut rng, bits, SetBits::Msb)
            .unwrap()
            .get()
    }

    fn prime<const LIMBS: usize>() -> Uint<LIMBS> {
        loop {
            let c = random::<LIMBS>();
            if is_prime(Flavor::Any, &c) {
                return c;
            }
        }
    }

    fn filter<const LIMBS: usize>(batch: &[Uint<LIMBS>]) -> Option<u8> {
        let words: Vec<&[u64]> = batch.iter().map(|c| &c.as_words()[..]).collect();
        super::base2(&words)
    }

    /// Where the filter runs, it agrees with crypto-primes' Miller-Rabin test to base 2 on
    /// random numbers and lets every prime through, for both sizes and partial batches.
    fn agrees<const LIMBS: usize>(rounds: usize) {
        for round in 0..rounds {
            let mut batch: Vec<Uint<LIMBS>> = (0..8).map(|_| random()).collect();
            batch[round % 8] = prime();
            let size = 8 - round % 3;
            let Some(pass) = filter(&batch[..size]) else {
                // Without AVX-512 IFMA the filter must decline, and the search goes without it.
                #[cfg(target_arch = "x86_64")]
                assert!(!super::ifma::available());
                return;
            };
            for (i, c) in batch[..size].iter().enumerate() {
                let mr = !MillerRabin::new(Odd::new(*c).unwrap())
                    .test_base_two()
                    .is_composite();
                assert_eq!(
                    pass >> i & 1 == 1,
                    mr,
                    "candidate {i} of round {round}: {c}"
                );
            }
            assert_eq!(u16::from(pass) >> size, 0);
        }
    }

    #[test]
    fn agrees_with_miller_rabin_1024() {
        agrees::<{ U1024::LIMBS }>(12);
    }

    #[test]
    fn agrees_with_miller_rabin_2048() {
        agrees::<{ U2048::LIMBS }>(2);
    }

    #[test]
    fn declines_what_it_cannot_take() {
        let even = random::<{ U1024::LIMBS }>().wrapping_sub(&Uint::ONE);
        assert_eq!(filter(&[even]), None);
        assert_eq!(
            filter::<4>(&[Uint::from_u64(u64::MAX << 1 | 1).shl_vartime(192)]),
            None
        );
        assert_eq!(filter::<{ U1024::LIMBS }>(&[]), None);
    }
}
