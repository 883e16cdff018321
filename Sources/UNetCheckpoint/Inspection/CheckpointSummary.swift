/// Everything `unet-ckpt inspect` reports about a checkpoint, as a stable Codable document
/// (its JSON form is documented in docs/cli.md).
public struct CheckpointSummary: Codable, Sendable {
    public var file: String
    /// `unet-h5` for unet-ckpt's own format.
    public var format: String
    public var schemaVersion: String?
    public var architecture: UNetArchitecture
    public var levels: [Level]
    public var head: Block
    public var sizes: Sizes
    public var totals: Totals
    public var tensors: [TensorRow]
    public var metadata: CheckpointMetadata
    public var normCounters: [String: Int64]
    public var probe: ProbeSummary?
    public var warnings: [String]

    /// One row of the level table.
    public struct Level: Codable, Sendable {
        public var level: Int
        /// How many times smaller than the input the maps of this level are (1, 2, 4, …).
        public var downsampling: Int
        public var encoder: Block
        /// Absent for the bottom level.
        public var decoder: Block?
    }

    /// Channels in and out of a block and its parameter count.
    public struct Block: Codable, Sendable {
        public var inChannels: Int
        public var outChannels: Int
        public var parameters: Int
        enum CodingKeys: String, CodingKey {
            case parameters
            case inChannels = "in_channels", outChannels = "out_channels"
        }
    }

    public struct Sizes: Codable, Sendable {
        /// `valid` or `same`.
        public var padding: String
        /// The smallest valid input side.
        public var minimumInput: Int?
        /// Valid sides repeat with this step from the minimum on (nil when any side is valid).
        public var inputStep: Int?
        /// An example input side (the valid side nearest 572) and its output side.
        public var exampleInput: Int?
        public var exampleOutput: Int?
        enum CodingKeys: String, CodingKey {
            case padding
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
        case file, format, architecture, levels, head, sizes, totals, tensors, metadata, probe, warnings
        case schemaVersion = "schema_version", normCounters = "num_batches_tracked"
    }

    /// Summarises an opened checkpoint. With `statistics`, reads every tensor, checks its
    /// checksum and adds per-tensor statistics; without, reads no tensor data at all.
    public init(_ checkpoint: CheckpointFile, statistics: Bool = false) throws {
        var rows: [TensorRow] = []
        for stored in checkpoint.tensors {
            var row = TensorRow(
                key: stored.key, block: stored.spec.block, shape: stored.shape, dtype: stored.dtype.rawValue,
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
            architecture: checkpoint.architecture, tensors: rows, metadata: checkpoint.metadata,
            storedBytes: checkpoint.tensors.reduce(0) { $0 + $1.storedByteCount })
        normCounters = checkpoint.normCounters
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
        let rows = checkpoint.orderedTensors.map { spec, tensor in
            TensorRow(
                key: spec.key, block: spec.block, shape: spec.shape, dtype: tensor.dtype.rawValue,
                layout: spec.layout.rawValue, parameters: spec.elementCount, bytes: tensor.byteCount, storage: format,
                crc32: hex(tensor.crc32), checksum: "none stored",
                statistics: statistics ? TensorStatistics(tensor) : nil)
        }
        self.init(
            file: file, format: format, schemaVersion: nil, architecture: checkpoint.architecture, tensors: rows,
            metadata: checkpoint.metadata, storedBytes: storedBytes)
        normCounters = checkpoint.normCounters
    }

    /// Summarises tensors of any source whose architecture is known.
    public init(
        file: String, format: String, schemaVersion: String?, architecture: UNetArchitecture, tensors: [TensorRow],
        metadata: CheckpointMetadata, storedBytes: Int
    ) {
        self.file = file
        self.format = format
        self.schemaVersion = schemaVersion
        self.architecture = architecture
        self.tensors = tensors
        self.metadata = metadata
        self.normCounters = [:]
        self.probe = nil
        self.warnings = []
        let plan = architecture.channelPlan
        func parameters(_ block: String) -> Int {
            tensors.filter { $0.block == block }.reduce(0) { $0 + $1.parameters }
        }
        levels = architecture.encoder.indices.map { level in
            Level(
                level: level, downsampling: 1 << level,
                encoder: Block(
                    inChannels: plan.encoderInputs[level], outChannels: architecture.encoder[level].convs.last ?? 0,
                    parameters: parameters("encoder.\(level)")),
                decoder: level < architecture.decoder.count
                    ? Block(
                        inChannels: plan.decoderBelow[level], outChannels: architecture.decoder[level].convs.last ?? 0,
                        parameters: parameters("decoder.\(level)")) : nil)
        }
        head = Block(inChannels: plan.headInput, outChannels: architecture.outChannels, parameters: parameters("head"))
        sizes = Sizes(architecture: architecture)
        var dtypes: [String: Int] = [:]
        for row in tensors { dtypes[row.dtype, default: 0] += 1 }
        totals = Totals(
            tensors: tensors.count, parameters: tensors.reduce(0) { $0 + $1.parameters },
            bytes: tensors.reduce(0) { $0 + $1.bytes }, storedBytes: storedBytes, dtypes: dtypes)
    }
}

extension CheckpointSummary.Sizes {
    init(architecture: UNetArchitecture) {
        padding = architecture.conv.padding.rawValue
        let valid = architecture.validInputSides(upTo: 4096)
        minimumInput = valid.first
        if architecture.acceptsAnyInputSide {
            inputStep = nil
        } else if valid.count >= 2 {
            inputStep = valid[1] - valid[0]
        }
        let nearest = architecture.nearestValidInputSides(to: 572)
        exampleInput = nearest.below ?? nearest.above
        exampleOutput = exampleInput.flatMap { architecture.outputSide(forInputSide: $0) }
    }
}
