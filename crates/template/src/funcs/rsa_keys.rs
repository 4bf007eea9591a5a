//! RSA private keys as Go's `rsa.GenerateKey` makes them for Sprig: two random primes of half
//! the size with their two top bits set (so the modulus has exactly the asked size), public
//! exponent 65537. Each prime comes from crypto-primes (a small-factor sieve, then Miller-Rabin
//! base 2 and a strong Lucas test: BPSW, no known counterexample); the two are searched on two
//! threads at once, and `rsa` derives and checks the rest of the key.

use crypto_bigint::{Uint, U1024, U2048};
use crypto_primes::hazmat::{SetBits, SmallFactorsSieveFactory};
use crypto_primes::{is_prime, sieve_and_find, Flavor};
use rsa::{BigUint, RsaPrivateKey};

/// A new key of `bits` bits (2048 and 4096 take the fast path, as Sprig asks for only those).
pub(super) fn generate(bits: usize) -> Result<RsaPrivateKey, rsa::Error> {
    match bits {
        2048 => from_primes(prime_pair::<{ U1024::LIMBS }>),
        4096 => from_primes(prime_pair::<{ U2048::LIMBS }>),
        _ => RsaPrivateKey::new(&mut rand_core::OsRng, bits),
    }
}

/// Completes a key from fresh primes; a pair that cannot make one (65537 shares a factor with
/// p-1 or q-1, or p = q) is drawn again.
fn from_primes(pair: fn() -> (BigUint, BigUint)) -> Result<RsaPrivateKey, rsa::Error> {
    let mut last = rsa::Error::InvalidPrime;
    for _ in 0..16 {
        let (p, q) = pair();
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

fn prime_pair<const LIMBS: usize>() -> (BigUint, BigUint) {
    std::thread::scope(|s| {
        let p = s.spawn(prime::<LIMBS>);
        let q = prime::<LIMBS>();
        (p.join().unwrap_or_else(|_| prime::<LIMBS>()), q)
    })
}

/// A random prime filling `LIMBS` limbs, its two top bits set.
fn prime<const LIMBS: usize>() -> BigUint {
    let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
    let bits = Uint::<LIMBS>::BITS;
    let sieve = SmallFactorsSieveFactory::new(Flavor::Any, bits, SetBits::TwoMsb)
        .expect("a sieve for a size of at least 1024 bits");
    let p: Uint<LIMBS> = sieve_and_find(&mut rng, sieve, |_, c| is_prime(Flavor::Any, c))
        .ok()
        .flatten()
        .expect("the sieve yields candidates until a prime is found");
    BigUint::from_bytes_be(&p.to_be_bytes())
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
    fn two_keys_differ() {
        let a = super::generate(2048).unwrap();
        let b = super::generate(2048).unwrap();
        assert_ne!(a.n(), b.n());
    }
}
