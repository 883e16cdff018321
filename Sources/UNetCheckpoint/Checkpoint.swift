/// A whole U-Net checkpoint in memory: the architecture, every tensor it requires, metadata and
/// an optional probe. The initialiser checks that the tensors are exactly those the architecture
/// needs, with the right shapes.
public struct Checkpoint: Sendable {
    public let architecture: UNetArchitecture
    /// The network the architecture describes: what every consumer interprets.
    public let network: UNetNetwork
    public var metadata: CheckpointMetadata
    /// Tensors by canonical key.
    public let tensors: [String: Tensor]
    /// PyTorch's BatchNorm `num_batches_tracked` by norm layer (`encoder.0.norm0`), when known.
    public var normCounters: [String: Int64]
    /// A small input and the network's output for it, when embedded.
    public var probe: Probe?

    /// Builds a checkpoint, refusing a set of tensors that does not fit the architecture.
    public init(
        architecture: UNetArchitecture, tensors: [String: Tensor], metadata: CheckpointMetadata = CheckpointMetadata(),
        normCounters: [String: Int64] = [:], probe: Probe? = nil
    ) throws {
        let network: UNetNetwork
        do {
            network = try architecture.network()
        } catch {
            throw CheckpointError(.invalidArgument, file: nil, "invalid architecture", problems: error.problems)
        }
        try self.init(
            network: network, tensors: tensors, metadata: metadata, normCounters: normCounters, probe: probe)
    }

    /// Builds a checkpoint of an already built network, refusing tensors that do not fit it.
    public init(
        network: UNetNetwork, tensors: [String: Tensor], metadata: CheckpointMetadata = CheckpointMetadata(),
        normCounters: [String: Int64] = [:], probe: Probe? = nil
    ) throws {
        let specs = network.tensorSpecs
        var problems = Self.problems(of: tensors.mapValues(\.shape), specs: specs)
        let norms = Set(specs.filter { $0.key.hasSuffix(".running_mean") }.map(\.layer))
        for layer in normCounters.keys.sorted() where !norms.contains(layer) {
            problems.append("num_batches_tracked given for \(layer), which is not a batch norm layer")
        }
        if let probe {
            problems += probe.problems(for: network)
        }
        guard problems.isEmpty else {
            throw CheckpointError(
                .invalidArgument, file: nil, "the tensors do not fit the architecture", problems: problems)
        }
        self.architecture = network.architecture
        self.network = network
        self.tensors = tensors
        self.metadata = metadata
        self.normCounters = normCounters
        self.probe = probe
    }

    /// How tensors of these shapes (by key) fall short of the specs: missing, misshapen or extra.
    static func problems(of shapes: [String: [Int]], specs: [TensorSpec]) -> [String] {
        var problems: [String] = []
        for spec in specs {
            guard let shape = shapes[spec.key] else {
                problems.append("missing tensor \(spec.key) \(spec.shape)")
                continue
            }
            if shape != spec.shape {
                problems.append("tensor \(spec.key) has shape \(shape), the architecture needs \(spec.shape)")
            }
        }
        let expected = Set(specs.map(\.key))
        for key in shapes.keys.sorted() where !expected.contains(key) {
            problems.append("tensor \(key) is not part of this architecture")
        }
        return problems
    }

    /// The tensors in canonical order with their specs.
    public var orderedTensors: [(spec: TensorSpec, tensor: Tensor)] {
        network.tensorSpecs.map { ($0, tensors[$0.key]!) }
    }

    /// The same checkpoint with every tensor in `dtype` (round to nearest even when narrowing).
    public func converted(to dtype: DType) -> Checkpoint {
        // Conversion keeps every key and shape, so the checked invariants still hold.
        Checkpoint(checked: self, tensors: tensors.mapValues { $0.converted(to: dtype) })
    }

    private init(checked base: Checkpoint, tensors: [String: Tensor]) {
        architecture = base.architecture
        network = base.network
        metadata = base.metadata
        normCounters = base.normCounters
        probe = base.probe
        self.tensors = tensors
    }
}

/// A probe: a small input and the network's expected output for it (docs/format.md §7).
public struct Probe: Sendable, Equatable {
    /// NCHW float32 input.
    public var input: Tensor
    /// NCHW float32 output, after the final activation.
    public var output: Tensor
    public var relativeTolerance: Double
    public var absoluteTolerance: Double

    public init(input: Tensor, output: Tensor, relativeTolerance: Double = 1e-4, absoluteTolerance: Double = 1e-5) {
        self.input = input
        self.output = output
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
    }

    func problems(for network: UNetNetwork) -> [String] {
        var problems: [String] = []
        let rank = network.architecture.spatialDims + 2
        let space = network.architecture.spatialDims == 3 ? "D, H, W" : "H, W"
        if input.dtype != .float32 || output.dtype != .float32 { problems.append("the probe must be float32") }
        if input.shape.count != rank || input.shape[1] != network.architecture.inChannels {
            problems.append(
                "probe input has shape \(input.shape), expected [N, \(network.architecture.inChannels), \(space)]")
        }
        if output.shape.count != rank || output.shape[1] != network.outputChannels
            || output.shape.first != input.shape.first
        {
            problems.append("probe output has shape \(output.shape), expected [N, \(network.outputChannels), \(space)]")
        }
        return problems
    }
}
