import UNetCheckpoint

/// A checkpoint of the given architecture with seeded, non-trivial values in [-1, 1), classes
/// `background`/`cell` and mask values `[0, 255]`.
public func syntheticCheckpoint(_ architecture: UNetArchitecture, seed: UInt64 = 1) throws -> Checkpoint {
    var generator = SplitMix64(seed: seed)
    var tensors: [String: Tensor] = [:]
    for spec in try architecture.network().tensorSpecs {
        let values = (0..<spec.elementCount).map { _ in Float(generator.nextUnit() * 2 - 1) }
        tensors[spec.key] = Tensor(shape: spec.shape, values: values)
    }
    return try Checkpoint(
        architecture: architecture, tensors: tensors,
        metadata: CheckpointMetadata(classes: ["background", "cell"], maskValues: .array([.number(0), .number(255)])))
}
