//! Candidates for a random prime of a fixed size: a random odd start with its two top bits set,
//! then the odd numbers after it that no odd prime below 2^17 divides, found by sieving a
//! window of 2048 odd numbers at once (the chance that such a window holds no prime of 1024
//! bits is about 0.3%; the caller then draws a new start).
//!
//! The residues of the start come from one multi-word remainder per group of small primes
//! (their product fits a word; by reciprocal, eight groups at a time, [`Divisor`]), then one
//! word division per prime; crossing off multiples costs about two writes per odd number. A
//! window takes 0.14 ms here (0.47 ms with crypto-bigint's constant-time remainders). Against
//! a sieve that steps every residue per candidate, this is cheaper, and its larger bound
//! leaves 12% fewer candidates for Miller-Rabin.
//!
//! The bound: 2^17 leaves 6% fewer candidates than 2^16; measured over 800 primes of 1024 bits
//! each (`search_speed` in lib.rs), with the older, slower remainders, 2^16 took 12.8-13.6 ms
//! a prime on 64-bit words and 4.3 ms with IFMA, 2^17 11.8 and 4.2, 2^18 12.3 and 4.7, 2^20
//! 14.2 and 7.1; with these remainders and ADX, 2^17 and 2^18 are even (7.0 and 7.1 ms on
//! words, 3.4 and 3.4 with IFMA).

use crypto_bigint::Uint;
use std::sync::OnceLock;

/// Odd numbers per window.
const WINDOW: usize = 2048;
/// Small primes below this divide no candidate.
const BOUND: u64 = 1 << 17;

/// The odd primes below [`BOUND`], in groups whose product fits a word.
struct SmallPrimes {
    primes: Vec<u64>,
    /// Per group: its product, as a divisor.
    products: Vec<Divisor>,
    /// Per group: its range in `primes`.
    groups: Vec<std::ops::Range<usize>>,
}

fn small_primes() -> &'static SmallPrimes {
    static PRIMES: OnceLock<SmallPrimes> = OnceLock::new();
    PRIMES.get_or_init(|| {
        let mut composite = vec![false; BOUND as usize];
        let mut primes = Vec::new();
        for n in (3..BOUND as usize).step_by(2) {
            if !composite[n] {
                primes.push(n as u64);
                (n * n..BOUND as usize)
                    .step_by(n)
                    .for_each(|m| composite[m] = true);
            }
        }
        let (mut products, mut groups) = (Vec::new(), Vec::new());
        let (mut first, mut product) = (0, 1u64);
        for (i, &p) in primes.iter().enumerate() {
            match product.checked_mul(p) {
                Some(next) => product = next,
                None => {
                    products.push(Divisor::new(product));
                    groups.push(first..i);
                    (first, product) = (i, p);
                }
            }
        }
        products.push(Divisor::new(product));
        groups.push(first..primes.len());
        SmallPrimes {
            primes,
            products,
            groups,
        }
    })
}

/// A word to divide by, shifted so its top bit is set, with its reciprocal: the remainder of a
/// long number then costs two multiplications a word and no division (Möller and Granlund,
/// "Improved division by invariant integers", 2011, algorithm 4). Variable time, as the
/// whole search.
#[derive(Clone, Copy)]
struct Divisor {
    /// The divisor shifted left by `shift`.
    d: u64,
    shift: u32,
    /// floor((2^128 - 1) / d) - 2^64.
    v: u64,
}

impl Divisor {
    const fn new(divisor: u64) -> Divisor {
        assert!(divisor > 0, "a product of primes");
        let shift = divisor.leading_zeros();
        let d = divisor << shift;
        let v = (u128::MAX / d as u128 - (1u128 << 64)) as u64;
        Divisor { d, shift, v }
    }

    /// `(high 2^64 + low) mod d` for `high < d`.
    #[inline(always)]
    fn rem_2by1(&self, high: u64, low: u64) -> u64 {
        let q = (self.v as u128 * high as u128).wrapping_add((high as u128) << 64 | low as u128);
        let (q1, q0) = (((q >> 64) as u64).wrapping_add(1), q as u64);
        let mut r = low.wrapping_sub(q1.wrapping_mul(self.d));
        if r > q0 {
            r = r.wrapping_add(self.d);
        }
        if r >= self.d {
            r -= self.d;
        }
        r
    }
}

/// `x mod` each of `divisors`, [`LANES`] at a time (their independent chains overlap).
fn remainders<const LIMBS: usize>(x: &[u64; LIMBS], divisors: &[Divisor], out: &mut [u64]) {
    for (ds, rs) in divisors.chunks(LANES).zip(out.chunks_mut(LANES)) {
        let mut lanes = [PAD; LANES];
        lanes[..ds.len()].copy_from_slice(ds);
        let r = remainders_of(x, &lanes);
        rs.copy_from_slice(&r[..rs.len()]);
    }
}

const LANES: usize = 8;
/// Fills the lanes past the last group.
const PAD: Divisor = Divisor::new(1);

fn remainders_of<const LIMBS: usize>(x: &[u64; LIMBS], ds: &[Divisor; LANES]) -> [u64; LANES] {
    // The word above x shifted left: below 2^shift, so below d.
    let mut r: [u64; LANES] = std::array::from_fn(|l| (x[LIMBS - 1] >> 1) >> (63 - ds[l].shift));
    for k in (0..LIMBS).rev() {
        let below = if k == 0 { 0 } else { x[k - 1] };
        for l in 0..LANES {
            let word = x[k] << ds[l].shift | (below >> 1) >> (63 - ds[l].shift);
            r[l] = ds[l].rem_2by1(r[l], word);
        }
    }
    std::array::from_fn(|l| r[l] >> ds[l].shift)
}

/// The candidates of one window, smallest first.
pub(super) struct Candidates<const LIMBS: usize> {
    start: Uint<LIMBS>,
    /// `composite[i]`: a small prime divides `start + 2i`.
    composite: Vec<bool>,
    next: usize,
}

impl<const LIMBS: usize> Candidates<LIMBS> {
    /// A window from a random start of `LIMBS` full words.
    pub(super) fn random(rng: &mut impl rand_core10::Rng) -> Self {
        loop {
            let mut words = super::random_words::<LIMBS>(rng);
            words[0] |= 1;
            words[LIMBS - 1] |= 0b11 << 62;
            // The window must not run past the size.
            if words[LIMBS - 1] != u64::MAX || words[1..LIMBS - 1].iter().any(|&w| w != u64::MAX) {
                return Self::from_start(Uint::from_words(words));
            }
        }
    }

    /// The window of odd numbers from `start` (odd, at least 2^16, and at least `2 WINDOW`
    /// below the top of its size).
    pub(super) fn from_start(start: Uint<LIMBS>) -> Self {
        let small = small_primes();
        let mut composite = vec![false; WINDOW];
        let mut residues = vec![0; small.products.len()];
        remainders(start.as_words(), &small.products, &mut residues);
        for (range, r) in small.groups.iter().zip(residues) {
            for &p in &small.primes[range.clone()] {
                // start + 2i = 0 (mod p)  <=>  i = -(start mod p) / 2 (mod p)
                let minus = match r % p {
                    0 => 0,
                    rem => p - rem,
                };
                // Halved modulo p (p is odd): the even one of minus and minus + p, halved.
                let first = (if minus % 2 == 0 { minus } else { minus + p } / 2) as usize;
                (first..WINDOW)
                    .step_by(p as usize)
                    .for_each(|i| composite[i] = true);
            }
        }
        Candidates {
            start,
            composite,
            next: 0,
        }
    }
}

impl<const LIMBS: usize> Iterator for Candidates<LIMBS> {
    type Item = Uint<LIMBS>;

    fn next(&mut self) -> Option<Uint<LIMBS>> {
        let offset = (self.next..WINDOW).find(|&i| !self.composite[i])?;
        self.next = offset + 1;
        Some(self.start.wrapping_add(&Uint::from_u64(2 * offset as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::{small_primes, Candidates, WINDOW};
    use crypto_bigint::{NonZero, Uint, U1024};
    use crypto_primes::hazmat::SmallFactorsSieve;
    use std::num::NonZeroU32;

    /// The window yields exactly the numbers of crypto-primes' sieve (small factors below
    /// 17,863) that no larger prime below 2^16 divides, in order, with the right shape.
    #[test]
    fn agrees_with_crypto_primes_sieve() {
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        let ours = Candidates::<{ U1024::LIMBS }>::random(&mut rng);
        let start = ours.start;
        let end = start.wrapping_add(&Uint::from_u64(2 * WINDOW as u64));
        let ours: Vec<U1024> = ours.collect();
        assert!(!ours.is_empty());
        let theirs = SmallFactorsSieve::new(start, NonZeroU32::new(1024).unwrap(), false)
            .unwrap()
            .take_while(|c| *c < end);
        let larger: Vec<u64> = (small_primes().primes.iter().copied())
            .filter(|&p| p > 17_863)
            .collect();
        let mut expected = Vec::new();
        for c in theirs {
            let divides = |p: &u64| {
                let p = NonZero::new(U1024::from_u64(*p)).unwrap();
                c.rem_vartime(&p) == Uint::ZERO
            };
            if !larger.iter().any(divides) {
                expected.push(c);
            }
        }
        assert_eq!(ours, expected);
        for c in &ours {
            assert!(c.bit(0).to_bool() && c.bit(1023).to_bool() && c.bit(1022).to_bool());
        }
    }

    /// Remainders by reciprocal, against crypto-bigint's, for divisors of every shift.
    #[test]
    fn remainders_agree_with_crypto_bigint() {
        use crypto_bigint::{Limb, NonZero};
        use rand_core10::Rng;
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        let mut words = || -> [u64; 16] { std::array::from_fn(|_| rng.next_u64()) };
        let mut divisors: Vec<u64> = (0..64).map(|k| 1u64 << k | 1).collect();
        divisors.extend([3, 7, u64::MAX, u64::MAX - 2, 0x8000_0000_0000_0001]);
        divisors.extend(words());
        let ds: Vec<super::Divisor> = divisors.iter().map(|&d| super::Divisor::new(d)).collect();
        for x in [words(), [u64::MAX; 16], [0; 16], {
            let mut w = [0; 16];
            w[15] = 1 << 63;
            w
        }] {
            let mut ours = vec![0; ds.len()];
            super::remainders(&x, &ds, &mut ours);
            for (&d, r) in divisors.iter().zip(ours) {
                let expected = U1024::from_words(x).rem_limb(NonZero::new(Limb(d)).unwrap());
                assert_eq!(r, expected.0, "{x:x?} mod {d:#x}");
            }
        }
    }

    #[test]
    fn small_primes_are_grouped_whole() {
        let small = small_primes();
        assert_eq!(small.primes.len(), 12250, "odd primes below 2^17");
        assert_eq!(small.primes.last(), Some(&131_071));
        let covered: usize = small.groups.iter().map(|r| r.len()).sum();
        assert_eq!(covered, small.primes.len());
    }
}
