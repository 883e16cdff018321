import UNetCheckpoint

/// Probes: a small seeded input and the network's output for it (docs/format.md §7).
public enum ProbeMaker {
    /// The probe input side: the smallest valid side from 64 on (valid-padding networks need more).
    public static func side(for network: UNetNetwork) -> Int {
        network.nearestValidInputSides(to: 63, axis: 0).above ?? network.minimumInputSide(axis: 0) ?? 64
    }

    /// A deterministic input in [0, 1): the same bytes on every machine.
    public static func input(for network: UNetNetwork, side: Int? = nil) -> FeatureMap {
        let side = side ?? Self.side(for: network)
        let architecture = network.architecture
        var random = SplitMix64(seed: 0x5EED_0F_0E_1A_11)
        let count = architecture.inChannels * side * side
        let values = (0..<count).map { _ in Float(random.next() >> 40) / Float(1 << 24) }
        return FeatureMap(batch: 1, channels: architecture.inChannels, height: side, width: side, values: values)
    }

    /// The probe of a checkpoint: the seeded input and this forward pass's output for it.
    public static func probe(for checkpoint: Checkpoint) throws(InferenceError) -> Probe {
        let input = Self.input(for: checkpoint.network)
        let output = try UNetModel(checkpoint).predict(input)
        return Probe(
            input: Tensor(shape: input.shape, values: input.values),
            output: Tensor(shape: output.shape, values: output.values),
            relativeTolerance: 1e-4, absoluteTolerance: 1e-5)
    }

    /// How a network's output differs from an expected one (a framework's output for the same
    /// input): the largest absolute difference, that difference relative to the expected output's
    /// range, and whether it is within `tolerance` of the range.
    public struct OutputMatch: Sendable {
        public let absolute: Double
        public let relativeToRange: Double
        /// The expected output's range (largest minus smallest value).
        public let range: Double
        public let within: Bool
    }

    /// Runs `checkpoint` on `input` and measures its output against `expected`; throws when the
    /// input does not fit the network or the shapes differ.
    public static func match(
        _ checkpoint: Checkpoint, input: FeatureMap, expected: FeatureMap, tolerance: Double
    ) throws(InferenceError) -> OutputMatch {
        let output = try UNetModel(checkpoint).predict(input)
        guard output.shape == expected.shape else {
            throw InferenceError(message: "the network gives \(output.shape), the expected output is \(expected.shape)")
        }
        let (absolute, relative, range) = differenceOfRange(output.values, expected.values)
        return OutputMatch(absolute: absolute, relativeToRange: relative, range: range, within: relative <= tolerance)
    }

    /// The largest absolute difference of `actual` from `expected`, that difference as a fraction
    /// of the expected values' range, and the range (largest minus smallest value).
    public static func differenceOfRange(_ actual: [Float], _ expected: [Float])
        -> (absolute: Double, relativeToRange: Double, range: Double)
    {
        let absolute = compare(actual, expected, rtol: 0, atol: 0).absolute
        let low = expected.min() ?? 0, high = expected.max() ?? 0
        let range = max(Double(high - low), .leastNormalMagnitude)
        return (absolute, absolute / range, range)
    }

    /// How far `actual` is from `expected`: the largest absolute difference, the largest relative
    /// difference, and whether every value lies within `atol + rtol·|expected|`.
    public static func compare(_ actual: [Float], _ expected: [Float], rtol: Double, atol: Double)
        -> (absolute: Double, relative: Double, within: Bool)
    {
        let difference = LargestDifference(actual, expected, absoluteTolerance: atol, relativeTolerance: rtol)
        return (difference.absolute, difference.relative ?? 0, difference.within)
    }
}
