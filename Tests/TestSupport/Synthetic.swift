import UNetCheckpoint

/// A checkpoint of the given architecture with seeded, non-trivial values in [-1, 1), classes
/// `background`/`cell` and mask values `[0, 255]`.
public func syntheticCheckpoint(_ architecture: UNetArchitecture, seed: UInt64 = 1) throws -> Checkpoint {
    var generator = SplitMix64(seed: seed)
    var tensors: [String: Tensor] = [:]
    for spec in architecture.tensorSpecs() {
        let values = (0..<spec.elementCount).map { _ in Float(generator.nextUnit() * 2 - 1) }
        tensors[spec.key] = Tensor(shape: spec.shape, values: values)
    }
    return try Checkpoint(
        architecture: architecture, tensors: tensors,
        metadata: CheckpointMetadata(classes: ["background", "cell"], maskValues: .array([.number(0), .number(255)])))
}

/// A small deterministic generator (SplitMix64), so tests need no global random state.
public struct SplitMix64 {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A value in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
