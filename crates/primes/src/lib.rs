//! RSA private keys as Go's `rsa.GenerateKey` makes them for Sprig: two random primes of half
//! the size with their two top bits set (so the modulus has exactly the asked size), public
//! exponent 65537. The candidates come from a sieve ([`sieve`]); the primality test is in
//! [`prime`]; `rsa` derives and checks the rest of the key.
//!
//! The search for a prime takes a random, often long, time, so primes come from a pool: one
//! worker per core searches at idle priority, and the thread that asks for a key searches too
//! until two primes are ready, whoever found them. The workers stop once a few primes wait
//! unasked, so a chart's next key is often ready before the template asks for it. A prime is
//! handed out once and never reused.
//!
//! A template set whose text names a key generator starts the workers as its parse begins
//! ([`prepare`]): on victoria-metrics-k8s-stack, whose webhook certificate is made after
//! 20 templates, the search then runs beside the rendering. (On a small chart whose
//! key-making branch is off it costs about half a millisecond: the workers run at idle
//! priority, on a core the render does not use.)

use crypto_bigint::{Uint, U1024, U2048};
use crypto_primes::{is_prime, Flavor};
use rsa::{BigUint, RsaPrivateKey};
use std::sync::{Mutex, OnceLock};

#[cfg(target_arch = "x86_64")]
mod adx;
mod miller_rabin;
mod scalar;
mod sieve;

/// Starts searching, at idle priority, the primes of `keys` keys of `bits` bits before they are
/// asked for: a template set whose text names a key generator says so as its parse begins,
/// and its first key is then often ready when asked. (Sizes without a pool: nothing.)
pub fn prepare(bits: usize, keys: usize) {
    if let Some(pool) = pool(bits) {
        pool.prepare(2 * keys);
    }
}

/// A new key of `bits` bits (2048 and 4096 take the fast path, as Sprig asks for only those).
pub fn generate(bits: usize) -> Result<RsaPrivateKey, rsa::Error> {
    match pool(bits) {
        Some(pool) => from_pool(pool),
        None => RsaPrivateKey::new(&mut rand_core::OsRng, bits),
    }
}

fn pool(bits: usize) -> Option<&'static Pool> {
    static HALF_2048: OnceLock<Pool> = OnceLock::new();
    static HALF_4096: OnceLock<Pool> = OnceLock::new();
    match bits {
        2048 => Some(HALF_2048.get_or_init(|| Pool::new(prime::<{ U1024::LIMBS }>))),
        4096 => Some(HALF_4096.get_or_init(|| Pool::new(prime::<{ U2048::LIMBS }>))),
        _ => None,
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
    /// Searches a prime; gives up (`None`) once the predicate says it is no longer needed.
    search: fn(&dyn Fn() -> bool) -> Option<BigUint>,
    /// Workers to run: one per core.
    cores: usize,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    ready: Vec<BigUint>,
    /// Primes asked for and not yet handed out.
    wanted: usize,
    /// Primes to have ready beyond those asked for: [`SPARE`], or what [`prepare`] expects.
    ahead: usize,
    workers: usize,
}

/// Primes the workers find beyond those asked for before they stop, unless told to expect more.
const SPARE: usize = 2;

impl Pool {
    fn new(search: fn(&dyn Fn() -> bool) -> Option<BigUint>) -> Pool {
        Pool {
            search,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Two primes nobody else gets. The caller searches too, at its own priority, until two
    /// are ready (whoever finds them): the workers run at idle priority, and a busy machine
    /// could starve them.
    fn take_two(&'static self) -> (BigUint, BigUint) {
        self.lock().wanted += 2;
        self.start_workers();
        let enough = || self.lock().ready.len() >= 2;
        loop {
            {
                let mut st = self.lock();
                if st.ready.len() >= 2 {
                    st.wanted -= 2;
                    let p = st.ready.pop().expect("two ready");
                    let q = st.ready.pop().expect("two ready");
                    return (p, q);
                }
            }
            if let Some(p) = (self.search)(&enough) {
                self.lock().ready.push(p);
            }
        }
    }

    /// Has `primes` found ahead of demand (at least [`SPARE`]).
    fn prepare(&'static self, primes: usize) {
        {
            let mut st = self.lock();
            st.ahead = st.ahead.max(primes);
        }
        self.start_workers();
    }

    /// One idle-priority worker per core, if they are not running.
    fn start_workers(&'static self) {
        let mut st = self.lock();
        while st.workers < self.cores {
            let spawned = std::thread::Builder::new()
                .name("primes".into())
                .spawn(move || self.work());
            if spawned.is_err() {
                break;
            }
            st.workers += 1;
        }
    }

    fn work(&self) {
        idle_priority();
        loop {
            {
                let mut st = self.lock();
                if st.ready.len() >= st.wanted + st.ahead.max(SPARE) {
                    st.workers -= 1;
                    return;
                }
            }
            if let Some(p) = (self.search)(&|| false) {
                self.lock().ready.push(p);
            }
        }
    }
}

/// This thread runs only on a core nothing else wants (Linux's `SCHED_IDLE`): a search ahead
/// of demand never slows the render that may need its primes.
fn idle_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is this thread; `param` is a valid sched_param for SCHED_IDLE. A
        // failure leaves the normal priority, which is only slower.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    }
}

/// A random prime filling `LIMBS` limbs, its two top bits set: the first candidate of the
/// sieve that is a prime by the test below.
///
/// The candidates go eight at a time through Miller-Rabin to base 2 ([`miller_rabin`]: on
/// AVX-512 all eight at once, elsewhere one by one on 64-bit words, [`scalar`]), and the first
/// that passes through [`RANDOM_ROUNDS`] more rounds to random bases, as Go's
/// `rsa.GenerateKey` (which helm runs) does after FIPS 186-5. For sizes the kernel does not
/// take, crypto-primes' BPSW test decides.
fn prime<const LIMBS: usize>(stop: &dyn Fn() -> bool) -> Option<BigUint> {
    let kernel = &miller_rabin::strong_probable_primes;
    search::<LIMBS>(stop, kernel, miller_rabin::lanes())
        .map(|p| BigUint::from_bytes_be(&p.to_be_bytes()))
}

/// A batch test as [`miller_rabin::strong_probable_primes`]: `None` where it cannot take it.
type Kernel<'a> = &'a dyn Fn(&[&[u64]], &[&[u64]]) -> Option<u8>;

/// [`prime`] with the given kernel (so that tests can take every way here), `width`
/// candidates at a time: what the kernel tests at once for the price of one (on 64-bit words
/// one, so the search stops at the first prime instead of testing the rest of a batch).
fn search<const LIMBS: usize>(
    stop: &dyn Fn() -> bool,
    kernel: Kernel,
    width: usize,
) -> Option<Uint<LIMBS>> {
    let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
    let mut window = sieve::Candidates::<LIMBS>::random(&mut rng);
    let two = Uint::<LIMBS>::from_u8(2);
    let twos = [&two.as_words()[..]; 8];
    while !stop() {
        let batch: Vec<Uint<LIMBS>> = window.by_ref().take(width).collect();
        if batch.is_empty() {
            window = sieve::Candidates::random(&mut rng);
            continue;
        }
        let words: Vec<&[u64]> = batch.iter().map(|c| &c.as_words()[..]).collect();
        let found = match kernel(&words, &twos[..batch.len()]) {
            Some(pass) => (batch.iter().enumerate())
                .find(|&(i, c)| pass >> i & 1 == 1 && random_bases_pass(&mut rng, c, kernel)),
            None => (batch.iter().enumerate()).find(|(_, c)| is_prime(Flavor::Any, *c)),
        };
        if let Some((_, c)) = found {
            return Some(*c);
        }
    }
    None
}

/// `LIMBS` random words.
fn random_words<const LIMBS: usize>(rng: &mut impl rand_core10::Rng) -> [u64; LIMBS] {
    std::array::from_fn(|_| rng.next_u64())
}

/// Rounds of Miller-Rabin to random bases a candidate that passed to base 2 must pass: what Go
/// asks of a 1024-bit candidate (FIPS 186-5, Table B.1: an error below 2^-100); Go's own count
/// falls with size, so 2048-bit primes get more than it asks.
const RANDOM_ROUNDS: usize = 5;

/// Miller-Rabin to [`RANDOM_ROUNDS`] random bases in `2..=n-2`, drawn as Go draws them (random
/// numbers of n's size, those out of range drawn again).
fn random_bases_pass<const LIMBS: usize>(
    rng: &mut impl rand_core10::Rng,
    n: &Uint<LIMBS>,
    kernel: Kernel,
) -> bool {
    let top_bits = n.bit_width() % 64;
    let (low, high) = (Uint::<LIMBS>::from_u8(2), n.wrapping_sub(&Uint::from_u8(2)));
    let random = || {
        let mut words = random_words::<LIMBS>(rng);
        if top_bits != 0 {
            words[LIMBS - 1] >>= 64 - top_bits;
        }
        Uint::<LIMBS>::from_words(words)
    };
    let bases: Vec<Uint<LIMBS>> = std::iter::repeat_with(random)
        .filter(|b| *b >= low && *b <= high)
        .take(RANDOM_ROUNDS)
        .collect();
    let words: Vec<&[u64]> = bases.iter().map(|b| &b.as_words()[..]).collect();
    let moduli = vec![&n.as_words()[..]; RANDOM_ROUNDS];
    kernel(&moduli, &words) == Some((1 << RANDOM_ROUNDS) - 1)
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

    /// Every way gives primes of the asked shape that crypto-primes' Baillie-PSW test
    /// accepts: with the kernel's two radices (compiled on arrays, so on every processor), on
    /// 64-bit words (what processors without AVX-512 run) and without either.
    #[test]
    fn every_search_finds_primes_bpsw_accepts() {
        use super::miller_rabin::{batch, Backend};
        use crypto_bigint::{U1024, U2048};
        use crypto_primes::{is_prime, Flavor};
        let kernels: [(&str, super::Kernel, usize); 4] = [
            ("radix 2^52", &|m, b| batch(m, b, Backend::Portable52), 8),
            ("radix 2^28", &|m, b| batch(m, b, Backend::Portable28), 8),
            ("64-bit words", &|m, b| batch(m, b, Backend::Words), 1),
            ("crypto-primes", &|_, _| None, 8),
        ];
        for (name, kernel, width) in kernels {
            let p = super::search::<{ U1024::LIMBS }>(&|| false, kernel, width).unwrap();
            assert!(is_prime(Flavor::Any, &p), "{p}, {name}");
            assert!(p.bit(1023).to_bool() && p.bit(1022).to_bool(), "{p}");
            let p = super::search::<{ U2048::LIMBS }>(&|| false, kernel, width).unwrap();
            assert!(is_prime(Flavor::Any, &p) && p.bit(2047).to_bool(), "{p}");
        }
    }

    /// Not a check: the search's speed, per kernel, for the notes.
    /// `RUNS=800 cargo test -p berth-primes --release -- --ignored --nocapture search_speed`
    #[test]
    #[ignore]
    fn search_speed() {
        use super::miller_rabin::{batch, Backend};
        use crypto_bigint::U1024;
        let backends = Backend::SEARCH.iter().filter(|b| b.supported());
        for backend in backends.copied().map(Some).chain([None]) {
            let (name, width) = match backend {
                Some(b) => (format!("{}, {} at a time", b.name(), b.lanes()), b.lanes()),
                None => ("crypto-primes".to_string(), 8),
            };
            let kernel = |m: &[&[u64]], n: &[&[u64]]| backend.and_then(|b| batch(m, n, b));
            let runs: u32 = std::env::var("RUNS")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(200);
            let start = std::time::Instant::now();
            for _ in 0..runs {
                super::search::<{ U1024::LIMBS }>(&|| false, &kernel, width).unwrap();
            }
            let each = start.elapsed() / runs;
            println!("1024-bit prime, {name} kernel: {each:?} each (mean of {runs})");
        }
    }

    #[test]
    fn a_search_asked_to_stop_gives_up() {
        use super::miller_rabin::{batch, Backend};
        use crypto_bigint::U1024;
        let kernel = &|m: &[&[u64]], b: &[&[u64]]| batch(m, b, Backend::Portable52);
        assert_eq!(super::search::<{ U1024::LIMBS }>(&|| true, kernel, 8), None);
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
