//! Miller-Rabin's strong probable-prime test on one (modulus, base) pair, on 64-bit words: what
//! the prime search runs where the processor has no AVX-512 IFMA ([`super::miller_rabin`]).
//!
//! Montgomery multiplication (CIOS, R = 2^(64 N)) on fixed-size arrays, values fully reduced
//! after every step; to base 2 the exponentiation squares and doubles (a shift), so almost all
//! of a composite's rejection is squarings; other bases use 4-bit windows. Variable time: the
//! numbers tested are random candidates, and Go's own search (math/big) was variable time too.
//! The products of 16-word numbers (the primes of 2048-bit keys) run in [`super::adx`] where
//! the processor has ADX, squarings there with a quarter fewer products; elsewhere, and for
//! other sizes, [`montmul_words`]. Measured here: 2^(n-1) mod n for 1024-bit n in 0.16 ms
//! with ADX, 0.25 ms without, where crypto-bigint's constant-time `pow` takes 0.77 ms.

use super::miller_rabin::{
    bit_len, double_mod, minus_one_words, neg_inverse, shr, sub, trailing_zeros,
};

/// Whether `n` is a strong probable prime to base `b`. `n` odd, its top bit set (so R mod n is
/// R - n); `b` in `2..=n-2`.
pub(super) fn strong_probable_prime<const N: usize>(n: &[u64; N], b: &[u64; N]) -> bool {
    let m = Modulus::new(n);
    let n_minus_1 = minus_one_words(n);
    let s = trailing_zeros(&n_minus_1);
    let d = shr(&n_minus_1, s);
    let mut x = if *b == word(2) {
        m.pow2(&d)
    } else {
        m.pow(&m.to_montgomery(b), &d)
    };
    if x == m.one || x == m.minus_one {
        return true;
    }
    for _ in 1..s {
        x = m.sqr(&x);
        if x == m.minus_one {
            return true;
        }
        if x == m.one {
            return false;
        }
    }
    false
}

/// An odd modulus with its top bit set, and what Montgomery arithmetic modulo it needs.
struct Modulus<const N: usize> {
    n: [u64; N],
    /// `-1/n mod 2^64`.
    n_inv: u64,
    /// 1 and -1 in Montgomery form: R mod n, n - R mod n.
    one: [u64; N],
    minus_one: [u64; N],
    /// Whether [`super::adx`] takes the products (16 words, and the processor has ADX).
    #[cfg(target_arch = "x86_64")]
    adx: bool,
}

impl<const N: usize> Modulus<N> {
    fn new(n: &[u64; N]) -> Self {
        // n > R/2, so R mod n = R - n: the two's complement of n.
        let one = sub(&[0; N], n).0;
        Modulus {
            n: *n,
            n_inv: neg_inverse(n[0], 64),
            minus_one: sub(n, &one).0,
            one,
            #[cfg(target_arch = "x86_64")]
            adx: N == 16 && super::adx::available(),
        }
    }

    /// `a b / R mod n` for `a, b < n`.
    fn mul(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
        #[cfg(target_arch = "x86_64")]
        if let Some((a16, n16)) = self.adx16(a) {
            let b16 = <&[u64; 16]>::try_from(&b[..]).expect("16 words");
            return self.reduced(super::adx::montmul(a16, b16, n16, self.n_inv));
        }
        self.reduced(montmul_words(a, b, &self.n, self.n_inv))
    }

    /// `a a / R mod n` for `a < n`.
    fn sqr(&self, a: &[u64; N]) -> [u64; N] {
        #[cfg(target_arch = "x86_64")]
        if let Some((a16, n16)) = self.adx16(a) {
            return self.reduced(super::adx::montsqr(a16, n16, self.n_inv));
        }
        self.mul(a, a)
    }

    /// `a` and `n` as [`super::adx`] takes them, if it takes this modulus.
    #[cfg(target_arch = "x86_64")]
    fn adx16<'a>(&'a self, a: &'a [u64; N]) -> Option<(&'a [u64; 16], &'a [u64; 16])> {
        if !self.adx {
            return None;
        }
        Some((a[..].try_into().ok()?, self.n[..].try_into().ok()?))
    }

    /// A Montgomery product below `2n` (words and top word), fully reduced.
    fn reduced<const W: usize>(&self, (t, top): ([u64; W], u64)) -> [u64; N] {
        let t: [u64; N] = std::array::from_fn(|k| t[k]);
        let (d, borrow) = sub(&t, &self.n);
        if top != 0 || !borrow {
            d
        } else {
            t
        }
    }

    /// `2x mod n` for `x < n` (in Montgomery form as out of it).
    fn double(&self, x: &[u64; N]) -> [u64; N] {
        double_mod(x, &self.n)
    }

    /// `x R mod n`: x doubled 64 N times.
    fn to_montgomery(&self, x: &[u64; N]) -> [u64; N] {
        (0..64 * N).fold(*x, |y, _| self.double(&y))
    }

    /// `2^e` in Montgomery form: squarings, and a doubling for each set bit.
    fn pow2(&self, e: &[u64; N]) -> [u64; N] {
        let mut x = self.one;
        for i in (0..bit_len(e)).rev() {
            x = self.sqr(&x);
            if e[i / 64] >> (i % 64) & 1 == 1 {
                x = self.double(&x);
            }
        }
        x
    }

    /// `b^e` in Montgomery form for `b` in Montgomery form: 4-bit windows, left to right.
    fn pow(&self, b: &[u64; N], e: &[u64; N]) -> [u64; N] {
        let mut table = [self.one; 16];
        for k in 1..16 {
            table[k] = self.mul(&table[k - 1], b);
        }
        let mut x = self.one;
        for w in (0..bit_len(e).div_ceil(4)).rev() {
            for _ in 0..4 {
                x = self.sqr(&x);
            }
            let digit = (e[w * 4 / 64] >> (w * 4 % 64)) & 15;
            if digit != 0 {
                x = self.mul(&x, &table[digit as usize]);
            }
        }
        x
    }
}

/// `a b / R` plus the multiple of `n` that makes it whole, for `a, b < n` (CIOS: per word of
/// `b`, add `a b[i]`, then the multiple of `n` that clears the low word, shifting down a
/// word): below `2n`, as words and top word.
pub(super) fn montmul_words<const N: usize>(
    a: &[u64; N],
    b: &[u64; N],
    n: &[u64; N],
    n_inv: u64,
) -> ([u64; N], u64) {
    let mut t = [0u64; N];
    let mut top = 0u64;
    for &bi in b {
        let mut c = 0u64;
        for j in 0..N {
            let s = t[j] as u128 + a[j] as u128 * bi as u128 + c as u128;
            t[j] = s as u64;
            c = (s >> 64) as u64;
        }
        let s = top as u128 + c as u128;
        top = s as u64;
        let over = (s >> 64) as u64;
        let q = t[0].wrapping_mul(n_inv);
        let s = t[0] as u128 + q as u128 * n[0] as u128;
        let mut c = (s >> 64) as u64;
        for j in 1..N {
            let s = t[j] as u128 + q as u128 * n[j] as u128 + c as u128;
            t[j - 1] = s as u64;
            c = (s >> 64) as u64;
        }
        let s = top as u128 + c as u128;
        t[N - 1] = s as u64;
        top = over + (s >> 64) as u64;
    }
    (t, top)
}

fn word<const N: usize>(w: u64) -> [u64; N] {
    let mut x = [0; N];
    x[0] = w;
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
    use crypto_bigint::{Odd, Uint};
    use rand_core10::Rng;

    fn random<const N: usize>() -> [u64; N] {
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        std::array::from_fn(|_| rng.next_u64())
    }

    fn modulus<const N: usize>() -> [u64; N] {
        let mut n = random::<N>();
        n[0] |= 1;
        n[N - 1] |= 1 << 63;
        n
    }

    /// `b^e mod n` by crypto-bigint.
    fn reference<const N: usize>(n: &[u64; N], b: &[u64; N], e: &[u64; N]) -> [u64; N] {
        let params = FixedMontyParams::new_vartime(Odd::new(Uint::<N>::from_words(*n)).unwrap());
        let b = FixedMontyForm::new(&Uint::from_words(*b), &params);
        b.pow_vartime(&Uint::from_words(*e)).retrieve().to_words()
    }

    fn pow_of<const N: usize>(n: &[u64; N], b: &[u64; N], e: &[u64; N]) -> [u64; N] {
        let m = Modulus::new(n);
        let x = if *b == word(2) {
            m.pow2(e)
        } else {
            m.pow(&m.to_montgomery(b), e)
        };
        m.mul(&x, &word(1))
    }

    #[test]
    fn powers_agree_with_crypto_bigint() {
        for _ in 0..20 {
            let n = modulus::<16>();
            let mut b = random::<16>();
            b[15] >>= 1;
            let e = random::<16>();
            assert_eq!(pow_of(&n, &b, &e), reference(&n, &b, &e), "{n:x?}");
            assert_eq!(pow_of(&n, &word(2), &e), reference(&n, &word(2), &e));
            let short = word(0x1234_5678);
            assert_eq!(pow_of(&n, &b, &short), reference(&n, &b, &short));
        }
        let n = modulus::<32>();
        let (b, e) = (word(7), random::<32>());
        assert_eq!(pow_of(&n, &b, &e), reference(&n, &b, &e));
    }

    #[test]
    fn the_inverse_inverts() {
        for n0 in [1u64, 3, 0xffff_ffff_ffff_ffff, 0x1234_5678_9abc_def1] {
            assert_eq!(n0.wrapping_mul(neg_inverse(n0, 64)), u64::MAX, "{n0}");
        }
    }

    /// A prime passes to every base; a product of two primes fails to base 2 and to random
    /// bases (the chance of a false pass is below 4^-40 here).
    #[test]
    fn primes_pass_and_composites_fail() {
        use crypto_primes::{is_prime, Flavor};
        let mut primes = Vec::new();
        while primes.len() < 3 {
            let n = modulus::<16>();
            if is_prime(Flavor::Any, &Uint::<16>::from_words(n)) {
                primes.push(n);
            }
        }
        for p in &primes {
            assert!(strong_probable_prime(p, &word(2)));
            assert!(strong_probable_prime(p, &word(3)));
            let mut b = random::<16>();
            b[15] >>= 2;
            assert!(strong_probable_prime(p, &b));
        }
        let mut found = 0;
        while found < 200 {
            let n = modulus::<16>();
            if is_prime(Flavor::Any, &Uint::<16>::from_words(n)) {
                continue;
            }
            found += 1;
            assert!(!strong_probable_prime(&n, &word(2)), "{n:x?}");
        }
    }
}
