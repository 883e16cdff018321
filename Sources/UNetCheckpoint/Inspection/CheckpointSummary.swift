/// Everything `unet-ckpt inspect` reports about a checkpoint, as a stable Codable document
/// (its JSON form is documented in docs/cli.md).
public struct CheckpointSummary: Codable, Sendable {
    public var file: String
    /// `unet-h5` for unet-ckpt's own format.
    public var format: String
    public var schemaVersion: String?
    /// The migrations a file of an older schema was read through, one line each.
    public var migrations: [String]
    public var architecture: UNetArchitecture
    /// The stage table: encoder stages, decoder stages and heads, in execution order.
    public var stages: [Stage]
    public var sizes: Sizes
    public var totals: Totals
    public var tensors: [TensorRow]
    public var metadata: CheckpointMetadata
    public var normCounters: [String: Int64]
    public var probe: ProbeSummary?
    public var warnings: [String]

    /// One row of the stage table.
    public struct Stage: Codable, Sendable {
        public var name: String
        /// `encoder`, `decoder` or `head`.
        public var section: String
        /// The resolution level of its output (0: the input's, each down-sampling step adds 1).
        public var level: Int
        public var inChannels: Int
        public var outChannels: Int
        public var parameters: Int
        enum CodingKeys: String, CodingKey {
            case name, section, level, parameters
            case inChannels = "in_channels", outChannels = "out_channels"
        }
    }

    /// Valid input sizes, one entry per spatial axis.
    public struct Sizes: Codable, Sendable {
        /// Whether every side from the minimum on is valid.
        public var anySide: [Bool]
        /// The smallest valid input side.
        public var minimumInput: [Int?]
        /// Valid sides repeat with this step from the minimum on (nil when any side is valid).
        public var inputStep: [Int?]
        /// An example input side (the valid side nearest 572, or 128 in 3-D) and its output side.
        public var exampleInput: [Int?]
        public var exampleOutput: [Int?]
        enum CodingKeys: String, CodingKey {
            case anySide = "any_side"
            case minimumInput = "minimum_input", inputStep = "input_step"
            case exampleInput = "example_input", exampleOutput = "example_output"
        }
    }

    public struct Totals: Codable, Sendable {
        public var tensors: Int
        public var parameters: Int
        /// Bytes of tensor data in memory.
        public var bytes: Int
        /// Bytes the tensor data occupies in the file.
        public var storedBytes: Int
        /// Tensor count by dtype.
        public var dtypes: [String: Int]
        enum CodingKeys: String, CodingKey {
            case tensors, parameters, bytes, dtypes
            case storedBytes = "stored_bytes"
        }
    }

    public struct TensorRow: Codable, Sendable {
        public var key: String
        public var block: String
        public var shape: [Int]
        public var dtype: String
        public var layout: String
        public var parameters: Int
        public var bytes: Int
        public var storage: String
        /// The stored CRC-32, as `0x` and eight hex digits.
        public var crc32: String
        /// `not checked`, `ok` or `mismatch`.
        public var checksum: String
        public var statistics: TensorStatistics?
    }

    public struct ProbeSummary: Codable, Sendable {
        public var inputShape: [Int]
        public var outputShape: [Int]
        public var rtol: Double
        public var atol: Double
        enum CodingKeys: String, CodingKey {
            case rtol, atol
            case inputShape = "input_shape", outputShape = "output_shape"
        }
    }

    enum CodingKeys: String, CodingKey {
        case file, format, architecture, stages, sizes, totals, tensors, metadata, probe, warnings
        case migrations
        case schemaVersion = "schema_version", normCounters = "num_batches_tracked"
    }

    /// Summarises an opened checkpoint. With `statistics`, reads every tensor, checks its
    /// checksum and adds per-tensor statistics; without, reads no tensor data at all.
    public init(_ checkpoint: CheckpointFile, statistics: Bool = false) throws {
        var rows: [TensorRow] = []
        let stages = checkpoint.network.stageNamesByTensor
        for stored in checkpoint.tensors {
            var row = TensorRow(
                key: stored.key, block: stages[stored.key] ?? "", shape: stored.shape, dtype: stored.dtype.rawValue,
                layout: stored.spec.layout.rawValue, parameters: stored.spec.elementCount, bytes: stored.byteCount,
                storage: stored.storage, crc32: hex(stored.storedChecksum), checksum: "not checked", statistics: nil)
            if statistics {
                let tensor = try checkpoint.tensor(stored.key, verifyChecksum: false)
                row.checksum = tensor.crc32 == stored.storedChecksum ? "ok" : "mismatch"
                row.statistics = TensorStatistics(tensor)
            }
            rows.append(row)
        }
        self.init(
            file: checkpoint.path, format: "unet-h5", schemaVersion: checkpoint.schemaVersion.description,
            network: checkpoint.network, tensors: rows, metadata: checkpoint.metadata,
            storedBytes: checkpoint.tensors.reduce(0) { $0 + $1.storedByteCount })
        normCounters = checkpoint.normCounters
        migrations = checkpoint.migrations
        probe = checkpoint.probe.map {
            ProbeSummary(
                inputShape: $0.inputShape, outputShape: $0.outputShape, rtol: $0.relativeTolerance,
                atol: $0.absoluteTolerance)
        }
        warnings = checkpoint.warnings
    }

    /// Summarises a checkpoint read from another format (`format` names it): checksums are
    /// computed, not compared, since such files store none.
    public init(_ checkpoint: Checkpoint, file: String, format: String, storedBytes: Int, statistics: Bool = false) {
        let stages = checkpoint.network.stageNamesByTensor
        let rows = checkpoint.orderedTensors.map { spec, tensor in
            TensorRow(
                key: spec.key, block: stages[spec.key] ?? "", shape: spec.shape, dtype: tensor.dtype.rawValue,
                layout: spec.layout.rawValue, parameters: spec.elementCount, bytes: tensor.byteCount, storage: format,
                crc32: hex(tensor.crc32), checksum: "none stored",
                statistics: statistics ? TensorStatistics(tensor) : nil)
        }
        self.init(
            file: file, format: format, schemaVersion: nil, network: checkpoint.network, tensors: rows,
            metadata: checkpoint.metadata, storedBytes: storedBytes)
        normCounters = checkpoint.normCounters
    }

    /// Summarises tensors of any source whose network is known.
    public init(
        file: String, format: String, schemaVersion: String?, network: UNetNetwork, tensors: [TensorRow],
        metadata: CheckpointMetadata, storedBytes: Int
    ) {
        self.file = file
        self.format = format
        self.schemaVersion = schemaVersion
        self.migrations = []
        self.architecture = network.architecture
        self.tensors = tensors
        self.metadata = metadata
        self.normCounters = [:]
        self.probe = nil
        self.warnings = []
        var parameters: [String: Int] = [:]
        for row in tensors { parameters[row.block, default: 0] += row.parameters }
        stages = network.stages.map { stage in
            Stage(
                name: stage.name, section: stage.section.rawValue, level: network.nodes[stage.output].level,
                inChannels: network.nodes[stage.input].channels, outChannels: network.nodes[stage.output].channels,
                parameters: parameters[stage.name] ?? 0)
        }
        sizes = Sizes(network: network)
        var dtypes: [String: Int] = [:]
        for row in tensors { dtypes[row.dtype, default: 0] += 1 }
        totals = Totals(
            tensors: tensors.count, parameters: tensors.reduce(0) { $0 + $1.parameters },
            bytes: tensors.reduce(0) { $0 + $1.bytes }, storedBytes: storedBytes, dtypes: dtypes)
    }
}

extension CheckpointSummary.Sizes {
    init(network: UNetNetwork) {
        let axes = 0..<network.architecture.spatialDims
        let example = network.architecture.spatialDims == 3 ? 128 : 572
        anySide = axes.map { network.acceptsAnyInputSide(axis: $0) }
        minimumInput = axes.map { network.minimumInputSide(axis: $0) }
        inputStep = axes.map { axis in
            guard !network.acceptsAnyInputSide(axis: axis), let minimum = network.minimumInputSide(axis: axis) else {
                return nil
            }
            return network.nearestValidInputSides(to: minimum, axis: axis).above.map { $0 - minimum }
        }
        exampleInput = axes.map { axis in
            let nearest = network.nearestValidInputSides(to: example, axis: axis)
            return nearest.below ?? nearest.above
        }
        exampleOutput = axes.map { [exampleInput] axis in
            exampleInput[axis].flatMap { network.sides(forInputSide: $0, axis: axis)?[network.output] }
        }
    }
}
