/// SplitMix64 (Steele, Lea and Flood, 2014): a small seeded generator, for reproducible inputs in
/// the tests, the fuzzer and the benchmark, without global random state.
package struct SplitMix64 {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in [0, 1).
    package mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A value in `0..<n` (0 when `n` ≤ 0).
    package mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}
