//! RSA private keys as Go's `rsa.GenerateKey` makes them for Sprig: two random primes of half
//! the size with their two top bits set (so the modulus has exactly the asked size), public
//! exponent 65537. Each prime comes from crypto-primes (a small-factor sieve, then Miller-Rabin
//! base 2 and a strong Lucas test: BPSW, no known counterexample); `rsa` derives and checks
//! the rest of the key.
//!
//! The search for a prime takes a random, often long, time, so primes come from a pool: on the
//! first demand one worker per core starts searching, and each key takes the first two primes
//! found (a slow search on one core no longer holds up a key the other cores could finish).
//! The workers stop once a few primes wait unasked, so a chart's next key is often ready
//! before the template asks for it. A prime is handed out once and never reused.

use crypto_bigint::{Uint, U1024, U2048};
use crypto_primes::hazmat::{SetBits, SieveFactory, SmallFactorsSieveFactory};
use crypto_primes::{is_prime, Flavor};
use rsa::{BigUint, RsaPrivateKey};
use std::sync::{Condvar, Mutex, OnceLock};

mod miller_rabin;

/// A new key of `bits` bits (2048 and 4096 take the fast path, as Sprig asks for only those).
pub(super) fn generate(bits: usize) -> Result<RsaPrivateKey, rsa::Error> {
    static HALF_2048: OnceLock<Pool> = OnceLock::new();
    static HALF_4096: OnceLock<Pool> = OnceLock::new();
    match bits {
        2048 => from_pool(HALF_2048.get_or_init(|| Pool::new(prime::<{ U1024::LIMBS }>))),
        4096 => from_pool(HALF_4096.get_or_init(|| Pool::new(prime::<{ U2048::LIMBS }>))),
        _ => RsaPrivateKey::new(&mut rand_core::OsRng, bits),
    }
}

/// Completes a key from fresh primes; a pair that cannot make one (65537 shares a factor with
/// p-1 or q-1, or p = q) is drawn again.
fn from_pool(pool: &'static Pool) -> Result<RsaPrivateKey, rsa::Error> {
    let mut last = rsa::Error::InvalidPrime;
    for _ in 0..16 {
        let (p, q) = pool.take_two();
        if p == q {
            continue;
        }
        match RsaPrivateKey::from_p_q(p, q, BigUint::from(65_537u32)) {
            Ok(k) => return Ok(k),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Primes found ahead of demand by worker threads.
struct Pool {
    search: fn() -> BigUint,
    state: Mutex<PoolState>,
    found: Condvar,
}

#[derive(Default)]
struct PoolState {
    ready: Vec<BigUint>,
    /// Primes asked for and not yet handed out.
    wanted: usize,
    workers: usize,
}

/// Primes the workers find beyond those asked for before they stop.
const SPARE: usize = 2;

impl Pool {
    fn new(search: fn() -> BigUint) -> Pool {
        Pool {
            search,
            state: Mutex::default(),
            found: Condvar::new(),
        }
    }

    fn take_two(&'static self) -> (BigUint, BigUint) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.wanted += 2;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        while st.workers < cores {
            st.workers += 1;
            if std::thread::Builder::new()
                .name("primes".into())
                .spawn(move || self.work())
                .is_err()
            {
                st.workers -= 1;
                break;
            }
        }
        while st.ready.len() < 2 {
            if st.workers == 0 {
                // No thread could start: search here.
                drop(st);
                let p = (self.search)();
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.ready.push(p);
                continue;
            }
            st = self.found.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.wanted -= 2;
        let p = st.ready.pop().expect("two ready");
        let q = st.ready.pop().expect("two ready");
        (p, q)
    }

    fn work(&self) {
        loop {
            {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if st.ready.len() >= st.wanted + SPARE {
                    st.workers -= 1;
                    return;
                }
            }
            let p = (self.search)();
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.ready.push(p);
            self.found.notify_all();
        }
    }
}

/// A random prime filling `LIMBS` limbs, its two top bits set: the first candidate of the
/// sieve that is a prime by the test below.
///
/// Where the processor allows ([`miller_rabin`]), the candidates go eight at a time through
/// Miller-Rabin to base 2, and the first that passes through eight more rounds to random
/// bases: Go's `rsa.GenerateKey` (which helm runs) asks for five at this size, after FIPS
/// 186-5. Elsewhere, crypto-primes' BPSW test decides.
fn prime<const LIMBS: usize>() -> BigUint {
    let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
    let bits = Uint::<LIMBS>::BITS;
    let mut factory = SmallFactorsSieveFactory::new(Flavor::Any, bits, SetBits::TwoMsb)
        .expect("a sieve for a size of at least 1024 bits");
    let mut sieve =
        (factory.make_sieve(&mut rng, None).ok().flatten()).expect("a sieve over a random start");
    let p: Uint<LIMBS> = loop {
        let batch: Vec<Uint<LIMBS>> = sieve.by_ref().take(8).collect();
        if batch.is_empty() {
            sieve = (factory.make_sieve(&mut rng, Some(&sieve)).ok().flatten())
                .expect("a sieve over a random start");
            continue;
        }
        let words: Vec<&[u64]> = batch.iter().map(|c| &c.as_words()[..]).collect();
        let two = Uint::<LIMBS>::from_u8(2);
        let twos = vec![&two.as_words()[..]; batch.len()];
        let found = match miller_rabin::strong_probable_primes(&words, &twos) {
            Some(pass) => (batch.iter().enumerate())
                .find(|&(i, c)| pass >> i & 1 == 1 && random_bases_pass(&mut rng, c)),
            None => (batch.iter().enumerate()).find(|(_, c)| is_prime(Flavor::Any, *c)),
        };
        if let Some((_, c)) = found {
            break *c;
        }
    };
    BigUint::from_bytes_be(&p.to_be_bytes())
}

/// Miller-Rabin to eight random bases in `2..=n-2`, drawn as Go draws them (random numbers of
/// n's size, those out of range drawn again).
fn random_bases_pass<const LIMBS: usize>(rng: &mut impl rand_core10::Rng, n: &Uint<LIMBS>) -> bool {
    let top_bits = n.bit_width() % 64;
    let (low, high) = (Uint::<LIMBS>::from_u8(2), n.wrapping_sub(&Uint::from_u8(2)));
    let random = || {
        let mut words = [0u64; LIMBS];
        words.iter_mut().for_each(|w| *w = rng.next_u64());
        if top_bits != 0 {
            words[LIMBS - 1] >>= 64 - top_bits;
        }
        Uint::<LIMBS>::from_words(words)
    };
    let bases: Vec<Uint<LIMBS>> = std::iter::repeat_with(random)
        .filter(|b| *b >= low && *b <= high)
        .take(8)
        .collect();
    let words: Vec<&[u64]> = bases.iter().map(|b| &b.as_words()[..]).collect();
    let moduli = vec![&n.as_words()[..]; 8];
    miller_rabin::strong_probable_primes(&moduli, &words) == Some(0xff)
}

#[cfg(test)]
mod tests {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};

    #[test]
    fn keys_have_the_asked_size_and_check_out() {
        for _ in 0..3 {
            let k = super::generate(2048).unwrap();
            assert_eq!(k.n().bits(), 2048);
            assert_eq!(k.e(), &rsa::BigUint::from(65_537u32));
            assert_eq!(k.primes().len(), 2);
            assert!(k.primes().iter().all(|p| p.bits() == 1024));
            k.validate().unwrap();
        }
        let k = super::generate(4096).unwrap();
        assert_eq!(k.n().bits(), 4096);
    }

    #[test]
    fn no_prime_serves_two_keys() {
        let keys: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        (0..3)
                            .map(|_| super::generate(2048).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut primes: Vec<_> = keys.iter().flat_map(|k| k.primes().to_vec()).collect();
        assert_eq!(primes.len(), 18);
        primes.sort();
        primes.dedup();
        assert_eq!(primes.len(), 18, "a prime was handed out twice");
    }
}
