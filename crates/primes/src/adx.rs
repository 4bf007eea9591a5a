//! Montgomery multiplication of 16-word (1024-bit) numbers on x86-64 with BMI2's `mulx` and
//! ADX's two carry chains (`adcx` on the carry flag, `adox` on the overflow flag): the inner
//! step of [`super::scalar`] for the primes of 2048-bit keys, on processors without AVX-512 IFMA.
//!
//! [`montmul`] follows the same CIOS schedule as [`super::scalar::montmul_words`] (per word of
//! `b`: add `a b[i]` to `t`, then the multiple of `n` that clears `t`'s low word, shifting `t`
//! down a word), written so that each product costs one `mulx`, one `adcx` (its low word plus
//! `t`'s word, on the carry chain), one `adox` (the previous product's high word, on the
//! overflow chain) and a store. [`montsqr`] adds each cross product once, doubles, adds the
//! diagonal, then reduces: 392 products where a multiplication takes 512. Measured here, a
//! product of 1024-bit numbers: 187 ns, a squaring 145 ns, where the compiler's code for
//! `montmul_words` takes 264 ns. [`tests`] compares both with `montmul_words`, which
//! `scalar`'s tests compare with crypto-bigint.

/// Whether this processor has `mulx`, `adcx` and `adox`.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("adx")
}

/// One product of a row: `rdx x[off] + t[off] + carries` to `t[off - shift]`; `prev` holds
/// the previous product's high word, `hi` receives this one's.
#[rustfmt::skip]
macro_rules! step {
    ($x:literal, $off:literal, $shift:literal, $prev:literal, $hi:literal) => {
        concat!(
            "mulx ", $hi, ", r11, [", $x, " + ", $off, "]\n",
            "adcx r11, [rcx + ", $off, "]\n",
            "adox r11, ", $prev, "\n",
            "mov [rcx + ", $off, " - ", $shift, "], r11\n",
        )
    };
}

/// `t += rdx x` over `t`'s 16 low words, written `shift` bytes lower; leaves the carry
/// chain's carry in CF, the overflow chain's in OF, and the last high word in r13 (the
/// caller's tail adds them to the words above). Zeroes `rax`.
macro_rules! row {
    ($x:literal, $shift:literal) => {
        concat!(
            "xor eax, eax\n",
            "mov r13, rax\n",
            step!($x, 0, $shift, "r13", "r12"),
            step!($x, 8, $shift, "r12", "r13"),
            step!($x, 16, $shift, "r13", "r12"),
            step!($x, 24, $shift, "r12", "r13"),
            step!($x, 32, $shift, "r13", "r12"),
            step!($x, 40, $shift, "r12", "r13"),
            step!($x, 48, $shift, "r13", "r12"),
            step!($x, 56, $shift, "r12", "r13"),
            step!($x, 64, $shift, "r13", "r12"),
            step!($x, 72, $shift, "r12", "r13"),
            step!($x, 80, $shift, "r13", "r12"),
            step!($x, 88, $shift, "r12", "r13"),
            step!($x, 96, $shift, "r13", "r12"),
            step!($x, 104, $shift, "r12", "r13"),
            step!($x, 112, $shift, "r13", "r12"),
            step!($x, 120, $shift, "r12", "r13"),
        )
    };
}

/// The word after a row (`t[16]`, at `rcx + 128`) plus `carry` and the carry chain's carry,
/// plus the row's last high word (r13) and the overflow chain's carry, written to `rcx + dst`.
#[rustfmt::skip]
macro_rules! top {
    ($carry:literal, $dst:literal) => {
        concat!(
            "mov r11, [rcx + 128]\n",
            "adcx r11, ", $carry, "\n",
            "adox r11, r13\n",
            "mov [rcx + ", $dst, "], r11\n",
        )
    };
}

/// `t[17]` (at `rcx + 136`) plus both chains' carries out of [`top!`], written to `rcx + dst`.
#[rustfmt::skip]
macro_rules! carries {
    ($dst:literal) => {
        concat!(
            "mov r11, [rcx + 136]\n",
            "adcx r11, rax\n",
            "adox r11, rax\n",
            "mov [rcx + ", $dst, "], r11\n",
        )
    };
}

/// The square's cross products `a[i] a[j]` (`i < j`), row by row: row `i` adds `a[i]` times
/// `a[i+1..16]` to `t[2i+1..i+16]` and its carries to `t[i+16]` (still zero). `rcx` points
/// at `t[i]`, so each row is the previous one without its first product; one step is
/// `(offset prev hi)`.
macro_rules! cross_rows {
    (($off:literal $prev:literal $hi:literal)) => {
        cross_row!(($off $prev $hi))
    };
    (($off:literal $prev:literal $hi:literal) $($rest:tt)+) => {
        concat!(
            cross_row!(($off $prev $hi) $($rest)+),
            "lea rcx, [rcx + 8]\n",
            cross_rows!($($rest)+),
        )
    };
}

macro_rules! cross_row {
    ($(($off:literal $prev:literal $hi:literal))+) => {
        concat!(
            "mov rdx, [rsi + ", first!($($off)+), " - 8]\n",
            "xor eax, eax\n",
            "mov r12, rax\n",
            "mov r13, rax\n",
            $(step!("rsi", $off, 0, $prev, $hi),)+
            "mov r11, r13\n",
            "adcx r11, rax\n",
            "adox r11, rax\n",
            "mov [rcx + 128], r11\n",
        )
    };
}

macro_rules! first {
    ($first:literal $($rest:literal)*) => {
        $first
    };
}

/// `t = 2 t + a[i]^2 2^(128 i)`: word pair `i` doubled on the carry chain, the square of
/// `a[i]` added on the overflow chain.
#[rustfmt::skip]
macro_rules! diagonal {
    ($a:literal, $lo:literal, $hi:literal) => {
        concat!(
            "mov rdx, [rsi + ", $a, "]\n",
            "mulx r13, r12, rdx\n",
            "mov r11, [rcx + ", $lo, "]\n",
            "adcx r11, r11\n",
            "adox r11, r12\n",
            "mov [rcx + ", $lo, "], r11\n",
            "mov r11, [rcx + ", $hi, "]\n",
            "adcx r11, r11\n",
            "adox r11, r13\n",
            "mov [rcx + ", $hi, "], r11\n",
        )
    };
}

/// `a b / 2^1024 mod n`, not yet fully reduced: the 16 low words and the top word (0 or 1)
/// of a value below `2n`. `a, b < n`, `n` odd, `n_inv = -1/n mod 2^64`.
///
/// The caller must have checked [`available`].
pub(super) fn montmul(a: &[u64; 16], b: &[u64; 16], n: &[u64; 16], n_inv: u64) -> ([u64; 16], u64) {
    // One scratch word before t (the reduction row's discarded low word), t's 16 words, its
    // top and its carry.
    let mut buf = [0u64; 19];
    // SAFETY: the processor has BMI2 and ADX (the caller checked `available`). The block
    // reads 16 words from each of `a`, `b` and `n`, and reads and writes `buf`'s 19 words
    // (rcx points at its second word; the lowest write is [rcx - 8], the highest
    // [rcx + 136]); it clobbers only the registers declared.
    unsafe {
        std::arch::asm!(
            "2:",
            "mov rdx, [r8]",
            "add r8, 8",
            row!("rsi", 0),
            top!("rax", 128),
            carries!(136),
            "mov rdx, [rcx]",
            "imul rdx, r10",
            row!("rdi", 8),
            top!("rax", 120),
            carries!(128),
            "mov [rcx + 136], rax",
            "dec r9",
            "jnz 2b",
            in("rsi") a.as_ptr(),
            in("rdi") n.as_ptr(),
            in("rcx") buf.as_mut_ptr().add(1),
            inout("r8") b.as_ptr() => _,
            inout("r9") 16u64 => _,
            in("r10") n_inv,
            out("rax") _,
            out("rdx") _,
            out("r11") _,
            out("r12") _,
            out("r13") _,
            options(nostack),
        );
    }
    (std::array::from_fn(|k| buf[1 + k]), buf[17])
}

/// `a a / 2^1024 mod n` as [`montmul`] gives it, for about 3/4 of its products: the cross
/// products once, doubled, the diagonal added, then Montgomery's reduction row by row, each
/// row's carry kept in r14 for the next.
///
/// The caller must have checked [`available`].
pub(super) fn montsqr(a: &[u64; 16], n: &[u64; 16], n_inv: u64) -> ([u64; 16], u64) {
    let mut t = [0u64; 32];
    let top: u64;
    // SAFETY: the processor has BMI2 and ADX (the caller checked `available`). The block
    // reads 16 words from each of `a` and `n`, and reads and writes `t`'s 32 words (the
    // cross rows reach [t + 8 i + 128] for i up to 14, the reduction rows [t + 8 i + 128]
    // for i up to 15); it clobbers only the registers declared.
    unsafe {
        std::arch::asm!(
            cross_rows!(
                (8 "r12" "r13") (16 "r13" "r12") (24 "r12" "r13") (32 "r13" "r12") (40 "r12" "r13")
                (48 "r13" "r12") (56 "r12" "r13") (64 "r13" "r12") (72 "r12" "r13") (80 "r13" "r12")
                (88 "r12" "r13") (96 "r13" "r12") (104 "r12" "r13") (112 "r13" "r12") (120 "r12" "r13")
            ),
            "mov rcx, r8",
            "xor eax, eax",
            diagonal!(0, 0, 8),
            diagonal!(8, 16, 24),
            diagonal!(16, 32, 40),
            diagonal!(24, 48, 56),
            diagonal!(32, 64, 72),
            diagonal!(40, 80, 88),
            diagonal!(48, 96, 104),
            diagonal!(56, 112, 120),
            diagonal!(64, 128, 136),
            diagonal!(72, 144, 152),
            diagonal!(80, 160, 168),
            diagonal!(88, 176, 184),
            diagonal!(96, 192, 200),
            diagonal!(104, 208, 216),
            diagonal!(112, 224, 232),
            diagonal!(120, 240, 248),
            "xor r14d, r14d",
            "3:",
            "mov rdx, [rcx]",
            "imul rdx, r10",
            row!("rdi", 0),
            top!("r14", 128),
            "mov r14, rax",
            "adcx r14, rax",
            "adox r14, rax",
            "lea rcx, [rcx + 8]",
            "dec r9",
            "jnz 3b",
            in("rsi") a.as_ptr(),
            in("rdi") n.as_ptr(),
            inout("rcx") t.as_mut_ptr() => _,
            in("r8") t.as_mut_ptr(),
            inout("r9") 16u64 => _,
            in("r10") n_inv,
            out("r14") top,
            out("rax") _,
            out("rdx") _,
            out("r11") _,
            out("r12") _,
            out("r13") _,
            options(nostack),
        );
    }
    (std::array::from_fn(|k| t[16 + k]), top)
}

#[cfg(test)]
mod tests {
    /// Against the same product on plain words, for random inputs below random moduli, and
    /// for the largest values below the largest moduli (whose sums carry into the top words).
    #[test]
    fn agrees_with_the_words_product() {
        assert!(super::available(), "this processor has no BMI2 and ADX");
        use rand_core10::Rng;
        let mut rng = rand_core10::UnwrapErr(getrandom4::SysRng);
        let mut random = || -> [u64; 16] { std::array::from_fn(|_| rng.next_u64()) };
        let mut cases = Vec::new();
        for _ in 0..2000 {
            let mut n = random();
            n[0] |= 1;
            n[15] |= 1 << 63;
            let (mut a, mut b) = (random(), random());
            a[15] %= n[15];
            b[15] %= n[15];
            cases.push((n, a, b));
        }
        for low in [1, 3, 0xffff_ffff_ffff_fff1, u64::MAX] {
            let mut n = [u64::MAX; 16];
            n[0] = low;
            for (da, db) in [(1, 1), (1, 2), (2, 1), (low, low)] {
                let (mut a, mut b) = (n, n);
                a[0] = low.wrapping_sub(da).min(low - 1);
                b[0] = low.wrapping_sub(db).min(low - 1);
                cases.push((n, a, b));
            }
        }
        for (n, a, b) in cases {
            let inv = crate::miller_rabin::neg_inverse(n[0], 64);
            let words = crate::scalar::montmul_words(&a, &b, &n, inv);
            assert_eq!(
                super::montmul(&a, &b, &n, inv),
                words,
                "{a:x?} {b:x?} {n:x?}"
            );
            let square = crate::scalar::montmul_words(&a, &a, &n, inv);
            assert_eq!(super::montsqr(&a, &n, inv), square, "{a:x?} {n:x?}");
        }
    }
}
