import Foundation
import HDF5

/// How a checkpoint is written.
public struct WriteOptions: Sendable {
    /// How tensor data is stored.
    public enum Storage: Sendable, Equatable {
        /// One contiguous block per tensor: the fastest to read, mappable (the default).
        case contiguous
        /// Chunks of about 1 MiB with the shuffle and gzip filters at `level` (1-9).
        case compressed(level: Int)
    }

    public var storage: Storage
    /// The schema version to write; see ``SchemaVersion/writable``.
    public var schemaVersion: SchemaVersion
    /// Recorded as `metadata.writer.written_at`; nil records no time (for reproducible files).
    public var writtenAt: Date?
    /// Fills in metadata still being computed when writing starts (such as the SHA-256 of a
    /// conversion's source, ``MetadataCompletion``); unet-ckpt files call it after the tensors are
    /// written, so the two overlap; other formats call it first.
    package var completeMetadata: MetadataCompletion?

    public init(storage: Storage = .contiguous, schemaVersion: SchemaVersion = .current, writtenAt: Date? = Date()) {
        self.storage = storage
        self.schemaVersion = schemaVersion
        self.writtenAt = writtenAt
    }

    /// Options whose metadata is finished by `completeMetadata` once the tensors are written.
    package init(
        storage: Storage = .contiguous, schemaVersion: SchemaVersion = .current, writtenAt: Date? = Date(),
        completeMetadata: MetadataCompletion?
    ) {
        self.init(storage: storage, schemaVersion: schemaVersion, writtenAt: writtenAt)
        self.completeMetadata = completeMetadata
    }
}

/// Metadata finished late: called with the checkpoint's metadata to fill in what was pending.
package struct MetadataCompletion: Sendable {
    private let complete: @Sendable (inout CheckpointMetadata) throws -> Void

    package init(_ complete: @escaping @Sendable (inout CheckpointMetadata) throws -> Void) {
        self.complete = complete
    }

    /// `metadata` with the pending fields filled in.
    package func callAsFunction(_ metadata: CheckpointMetadata) throws -> CheckpointMetadata {
        var metadata = metadata
        try complete(&metadata)
        return metadata
    }
}

extension Checkpoint {
    /// Writes the checkpoint to `path` atomically (docs/format.md): an existing file there is
    /// replaced only once the new one is complete and on disk.
    /// - Returns: what the chosen schema version could not hold (empty for the current version).
    @discardableResult
    public func write(to path: String, options: WriteOptions = WriteOptions()) throws -> [String] {
        let losses = try SchemaMigrations.lossesWriting(self, as: options.schemaVersion)
        if case .compressed(let level) = options.storage, !(1...9).contains(level) {
            throw CheckpointError(.invalidArgument, file: path, "gzip level \(level) is outside 1-9")
        }
        try AtomicWrite.replace(path) { temporary in
            try withHDF5Errors(file: path, "cannot write the checkpoint") {
                try HDF5File.create(temporary) { root in
                    try writeContents(into: root, options: options, writeback: EarlyWriteback(path: temporary))
                }
            }
        }
        return losses
    }

    private func writeContents(into root: HDF5Group, options: WriteOptions, writeback: EarlyWriteback) throws {
        try root.setAttribute("format", string: UNetCheckpointLibrary.formatName)
        try root.setAttribute("schema_version", string: options.schemaVersion.description)
        let description =
            options.schemaVersion.major == 1
            ? try CanonicalJSON.string(architecture.version1) : try CanonicalJSON.string(architecture)
        try root.setAttribute("architecture", string: description)
        // HDF5 (not thread-safe) writes one tensor at a time, which keeps one core busy copying
        // into the page cache; the checksums are computed on the others meanwhile and recorded
        // once both are done.
        let ordered = orderedTensors
        let checksums = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: ordered.count)
        defer { checksums.deallocate() }
        let computed = DispatchGroup()
        let shared = UncheckedSendable((ordered, checksums))
        DispatchQueue.global().async(group: computed) {
            let (ordered, checksums) = shared.value
            Parallel.forEach(ordered.count, threads: max(1, Parallel.cores - 1)) { index, _ in
                checksums[index] = ordered[index].tensor.crc32
            }
        }
        // The worker reads `ordered` and fills `checksums` until it is done, whatever happens here.
        defer { computed.wait() }
        var datasets: [HDF5Dataset] = []
        for (spec, tensor) in ordered {
            datasets.append(
                try Self.writeTensor(
                    tensor, at: spec.datasetPath, layout: spec.layout, in: root, storage: options.storage))
            writeback.wrote(tensor.byteCount)
        }
        computed.wait()
        for (dataset, checksum) in zip(datasets, checksums) { try dataset.setAttribute("crc32", uint32: checksum) }
        datasets.removeAll()
        for (layer, count) in normCounters {
            let group = try root.group(String(TensorSpec.datasetPath(forKey: layer).dropFirst()))
            try group.setAttribute("num_batches_tracked", int64: count)
        }
        // The metadata last: what was still being computed while the tensors were written.
        var metadata = try options.completeMetadata?(self.metadata) ?? self.metadata
        metadata.writer = CheckpointMetadata.Writer(
            tool: UNetCheckpointLibrary.formatName, version: UNetCheckpointLibrary.version,
            writtenAt: options.writtenAt.map { ISO8601DateFormatter().string(from: $0) })
        try root.setAttribute("metadata", string: try CanonicalJSON.string(metadata))
        if let probe {
            let group = try root.createGroup("probe")
            try group.setAttribute("rtol", double: probe.relativeTolerance)
            try group.setAttribute("atol", double: probe.absoluteTolerance)
            for (tensor, path) in [(probe.input, "/probe/input"), (probe.output, "/probe/output")] {
                try Self.writeTensor(tensor, at: path, layout: nil, in: root, storage: options.storage)
                    .setAttribute("crc32", uint32: tensor.crc32)
            }
        }
    }

    /// Writes a tensor's dataset and its `dtype` and `layout` attributes; its `crc32` is the
    /// caller's to set on the returned dataset.
    @discardableResult
    private static func writeTensor(
        _ tensor: Tensor, at path: String, layout: TensorLayout?, in root: HDF5Group, storage: WriteOptions.Storage
    ) throws -> HDF5Dataset {
        let dataset = try root.createDataset(
            String(path.dropFirst()), type: tensor.dtype.hdf5ElementType, shape: tensor.shape,
            storage: hdf5Storage(for: tensor, storage))
        try tensor.withUnsafeBytes { try dataset.write($0) }
        try dataset.setAttribute("dtype", string: tensor.dtype.rawValue)
        if let layout { try dataset.setAttribute("layout", string: layout.rawValue) }
        return dataset
    }

    /// Chunks of whole rows along the first axis, about 1 MiB each.
    private static func hdf5Storage(for tensor: Tensor, _ storage: WriteOptions.Storage) -> HDF5Storage {
        guard case .compressed(let level) = storage, let rows = tensor.shape.first, rows > 0 else { return .contiguous }
        let rowBytes = max(1, tensor.byteCount / rows)
        let rowsPerChunk = max(1, min(rows, (1 << 20) / rowBytes))
        return .chunked(chunk: [rowsPerChunk] + tensor.shape.dropFirst(), gzipLevel: level)
    }
}

extension DType {
    /// How the element type is stored in HDF5 (bfloat16 as its 16-bit patterns).
    var hdf5ElementType: HDF5ElementType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .uint16
        }
    }
}
