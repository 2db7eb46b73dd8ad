//! numpy's legacy random stream, `numpy.random.RandomState`.

/// Number of 32-bit words in the MT19937 state.
const STATE_LEN: usize = 624;
/// Offset of the word that is mixed into each regenerated word.
const SHIFT: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// A port of numpy's legacy `numpy.random.RandomState`, the generator behind the `np.random.*`
/// functions after `np.random.seed(seed)`.
///
/// Every method draws the same values in the same order as the numpy method it names. The tests
/// check this against numpy 2.4.6, and numpy's compatibility policy freezes the legacy stream.
///
/// This is our own code because the stream depends on numpy's conversions on top of MT19937:
/// 53-bit doubles from two words, polar Box-Muller normals with one cached value, masked
/// rejection for bounded integers and Fisher-Yates shuffles. The `rand` crate's distributions
/// convert differently, and MT19937 crates such as `rand_mt` provide only the raw words.
#[derive(Debug, Clone)]
pub struct NumpyRandomState {
    key: [u32; STATE_LEN],
    pos: usize,
    /// Second normal of the last polar Box-Muller pair, returned by the next normal draw.
    cached_normal: Option<f64>,
}

impl NumpyRandomState {
    /// Creates the state of `np.random.RandomState(seed)` or `np.random.seed(seed)`: MT19937
    /// seeded by `init_genrand`, with no cached normal.
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; STATE_LEN];
        key[0] = seed;
        for pos in 1..STATE_LEN {
            let previous = key[pos - 1];
            key[pos] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(pos as u32);
        }
        Self {
            key,
            pos: STATE_LEN,
            cached_normal: None,
        }
    }

    /// Returns the next tempered 32-bit MT19937 output, as `randint(0, 2**32, dtype=np.uint32)`.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos == STATE_LEN {
            self.regenerate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// Returns a 64-bit value built from two outputs, the first one in the high half.
    pub fn next_u64(&mut self) -> u64 {
        let high = u64::from(self.next_u32());
        let low = u64::from(self.next_u32());
        (high << 32) | low
    }

    /// Draws a uniform double in `[0, 1)` with 53 random bits, as `random_sample()` and
    /// `rand()`: the top 27 bits of one output and the top 26 bits of the next.
    pub fn random_sample(&mut self) -> f64 {
        let high = f64::from(self.next_u32() >> 5);
        let low = f64::from(self.next_u32() >> 6);
        (high * 67_108_864.0 + low) / 9_007_199_254_740_992.0
    }

    /// Draws a standard normal value, as `standard_normal()` and `randn()`.
    ///
    /// numpy's legacy `legacy_gauss` uses the polar Box-Muller method: each accepted pair of
    /// uniforms yields two normals, the second of which is cached and returned by the next call.
    /// Other draws (`random_sample`, `bounded`) leave the cached value in place. The logarithm
    /// is `f64::ln`, the platform's libm `log` that numpy's C code calls too.
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(value) = self.cached_normal.take() {
            return value;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let factor = (-2.0 * r2.ln() / r2).sqrt();
                self.cached_normal = Some(factor * x1);
                return factor * x2;
            }
        }
    }

    /// Draws an integer uniformly from `0..n`, as `randint(0, n)` and `choice(n)`.
    ///
    /// numpy draws with masked rejection: it masks each output to the smallest all-ones bit
    /// mask covering `n - 1` and retries until the value is at most `n - 1`. It draws 32-bit
    /// outputs when `n - 1` fits in 32 bits, 64-bit values otherwise, and nothing when `n == 1`.
    ///
    /// # Panics
    ///
    /// Panics when `n == 0`, where numpy raises `ValueError` too.
    pub fn bounded(&mut self, n: u64) -> u64 {
        assert!(n > 0, "bounded(n) requires n >= 1, got n = 0");
        self.interval(n - 1)
    }

    /// Returns a random permutation of `0..n`, as `permutation(n)`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut values: Vec<usize> = (0..n).collect();
        self.shuffle(&mut values);
        values
    }

    /// Shuffles `values` in place, as `shuffle()` on a 1-D array: Fisher-Yates from the last
    /// element down, swapping element `i` with one drawn from `0..=i`.
    pub fn shuffle<T>(&mut self, values: &mut [T]) {
        for i in (1..values.len()).rev() {
            let j = self.interval(i as u64) as usize;
            values.swap(i, j);
        }
    }

    /// Draws an integer uniformly from `0..=max` by masked rejection, as numpy's
    /// `random_interval` and `random_bounded_uint64_fill` do for the legacy generator.
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        if max <= u64::from(u32::MAX) {
            loop {
                let value = u64::from(self.next_u32()) & mask;
                if value <= max {
                    return value;
                }
            }
        }
        loop {
            let value = self.next_u64() & mask;
            if value <= max {
                return value;
            }
        }
    }

    /// Refills the state with the next 624 words (`mt19937_gen`).
    fn regenerate(&mut self) {
        let key = &mut self.key;
        for i in 0..STATE_LEN {
            let y = (key[i] & UPPER_MASK) | (key[(i + 1) % STATE_LEN] & LOWER_MASK);
            let twisted = (y >> 1) ^ if y & 1 == 1 { MATRIX_A } else { 0 };
            key[i] = key[(i + SHIFT) % STATE_LEN] ^ twisted;
        }
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values are printed by numpy 2.4.6, for example
    // `np.random.RandomState(42).randint(0, 2**32, size=3, dtype=np.uint32)`.

    #[test]
    fn next_u32_matches_numpy_seed_42() {
        let mut rng = NumpyRandomState::new(42);
        assert_eq!(rng.next_u32(), 1_608_637_542);
        assert_eq!(rng.next_u32(), 3_421_126_067);
        assert_eq!(rng.next_u32(), 4_083_286_876);
    }

    #[test]
    fn next_u32_crosses_state_refill() {
        // The C++ standard ([rand.predef]) requires std::mt19937 seeded with 5489 to return
        // 4123659995 on its 10000th call, and numpy 2.4.6 agrees. The call refills the state 17 times.
        let mut rng = NumpyRandomState::new(5489);
        let value = (0..10_000).map(|_| rng.next_u32()).last();
        assert_eq!(value, Some(4_123_659_995));
    }

    #[test]
    fn random_sample_matches_numpy_rand() {
        let mut rng = NumpyRandomState::new(42);
        assert_eq!(rng.random_sample(), 0.374_540_118_847_362_5);
        assert_eq!(rng.random_sample(), 0.950_714_306_409_916_2);
    }

    #[test]
    fn standard_normal_matches_numpy_randn() {
        let mut rng = NumpyRandomState::new(42);
        assert_eq!(rng.standard_normal(), 0.496_714_153_011_232_7);
        assert_eq!(rng.standard_normal(), -0.138_264_301_171_184_66);
        assert_eq!(rng.standard_normal(), 0.647_688_538_100_692_5);
    }

    #[test]
    fn standard_normal_cache_survives_other_draws() {
        // np.random.RandomState(7): randn(), rand(), randn(), randn().
        let mut rng = NumpyRandomState::new(7);
        assert_eq!(rng.standard_normal(), 1.690_525_703_800_356);
        assert_eq!(rng.random_sample(), 0.977_989_511_996_602_7);
        assert_eq!(rng.standard_normal(), -0.465_937_370_540_832_8);
        assert_eq!(rng.standard_normal(), 0.093_166_060_979_751_75);
    }

    #[test]
    fn bounded_matches_numpy_choice() {
        let mut rng = NumpyRandomState::new(42);
        let values: Vec<u64> = (0..5).map(|_| rng.bounded(48)).collect();
        assert_eq!(values, [38, 28, 14, 42, 7]);
    }

    #[test]
    fn bounded_matches_numpy_randint() {
        // np.random.RandomState(0): randint(0, 2**40, size=3), then randint(0, 1000, size=3).
        let mut rng = NumpyRandomState::new(0);
        let wide: Vec<u64> = (0..3).map(|_| rng.bounded(1 << 40)).collect();
        assert_eq!(wide, [741_280_623_151, 506_137_267_392, 291_447_657_211]);
        let narrow: Vec<u64> = (0..3).map(|_| rng.bounded(1000)).collect();
        assert_eq!(narrow, [707, 359, 9]);
    }

    #[test]
    fn bounded_one_draws_nothing() {
        // np.random.RandomState(1): randint(0, 1, size=3), then randint(0, 2**32).
        let mut rng = NumpyRandomState::new(1);
        for _ in 0..3 {
            assert_eq!(rng.bounded(1), 0);
        }
        assert_eq!(rng.next_u32(), 1_791_095_845);
    }

    #[test]
    #[should_panic(expected = "n >= 1")]
    fn bounded_zero_panics() {
        NumpyRandomState::new(0).bounded(0);
    }

    #[test]
    fn permutation_matches_numpy() {
        let mut rng = NumpyRandomState::new(42);
        assert_eq!(rng.permutation(10), [8, 1, 5, 0, 7, 2, 9, 4, 3, 6]);
        let mut rng = NumpyRandomState::new(42);
        let long = rng.permutation(5000);
        assert_eq!(
            long[..10],
            [1501, 2586, 2653, 1055, 705, 106, 589, 2468, 2413, 1600]
        );
    }

    #[test]
    fn permutation_of_zero_and_one() {
        let mut rng = NumpyRandomState::new(42);
        assert!(rng.permutation(0).is_empty());
        assert_eq!(rng.permutation(1), [0]);
        assert_eq!(rng.next_u32(), 1_608_637_542);
    }
}
