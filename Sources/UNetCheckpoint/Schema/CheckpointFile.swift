import Foundation
import HDF5

/// A checkpoint file opened for reading. Opening reads and validates everything but the tensor
/// data: the schema version, the architecture, the metadata and every tensor's dataset (presence,
/// shape, element type, layout, storage, checksum attribute), so a file that opens is one whose
/// tensors can be read. Tensor data is read on demand and checked against its checksum.
public final class CheckpointFile {
    /// The path the file was opened at.
    public let path: String
    /// The schema version the file declares.
    public let schemaVersion: SchemaVersion
    public let architecture: UNetArchitecture
    /// The network the architecture describes (``UNetArchitecture/network()``).
    public let network: UNetNetwork
    /// The migrations the file was read through, one line each (empty for a current file).
    public let migrations: [String]
    public let metadata: CheckpointMetadata
    /// The stored tensors, in canonical order.
    public let tensors: [StoredTensor]
    /// PyTorch's BatchNorm counters by norm layer, when stored.
    public let normCounters: [String: Int64]
    /// The embedded probe's shapes and tolerances, when the file has one.
    public let probe: StoredProbe?
    /// What is not wrong but worth saying: unknown datasets, migrations applied, a newer minor version.
    public let warnings: [String]

    private let file: HDF5File
    private let index: [String: Int]
    /// Bytes before the HDF5 data; dataset offsets count from there.
    private let userBlockSize: Int

    /// A tensor as stored: its spec, element type, checksum and storage.
    public struct StoredTensor: Sendable {
        public let spec: TensorSpec
        public let dtype: DType
        /// The `crc32` attribute.
        public let storedChecksum: UInt32
        /// `contiguous`, or `chunked` with its filters, e.g. `chunked+shuffle+gzip`.
        public let storage: String
        /// Bytes of data once read.
        public var byteCount: Int { spec.elementCount * dtype.size }
        /// Bytes the data occupies in the file.
        public let storedByteCount: Int
        /// Where a contiguous tensor's bytes start in the file (they can be read or mapped there).
        public let fileOffset: UInt64?
        public var key: String { spec.key }
        public var shape: [Int] { spec.shape }
        let datasetPath: String
    }

    /// The embedded probe's description.
    public struct StoredProbe: Sendable {
        public let inputShape: [Int]
        public let outputShape: [Int]
        public let relativeTolerance: Double
        public let absoluteTolerance: Double
    }

    /// Opens and validates a checkpoint; throws a ``CheckpointError`` naming every problem found.
    public init(path: String) throws {
        self.path = path
        let file = try Self.openHDF5(path)
        self.file = file
        userBlockSize = try withHDF5Errors(file: path, "cannot read the file's properties") { try file.userBlockSize() }
        let root = try withHDF5Errors(file: path, "cannot read the root group") { try file.root() }
        var warnings: [String] = []

        // 1. Format, version, and the JSON documents, brought to the current version.
        let format = try Self.rootString(root, "format", file: path)
        guard format == UNetCheckpointLibrary.formatName else {
            throw CheckpointError(
                .notACheckpoint, file: path,
                "not a unet-ckpt checkpoint: its format attribute is \"\(format.prefix(40))\"")
        }
        let versionText = try Self.rootString(root, "schema_version", file: path)
        guard let version = SchemaVersion(versionText) else {
            throw CheckpointError(
                .invalid, file: path, "schema_version \"\(versionText.prefix(40))\" is not MAJOR.MINOR")
        }
        schemaVersion = version
        var document = SchemaDocument(
            version: version,
            architecture: try Self.rootJSON(root, "architecture", file: path),
            metadata: try Self.rootJSON(root, "metadata", file: path))
        migrations = try SchemaMigrations.upgrade(&document, file: path)
        if let known = SchemaVersion.newestMinor[version.major], version.minor > known {
            warnings.append(
                "schema \(version) is newer than \(version.major).\(known), the newest \(version.major).x this unet-ckpt "
                    + "knows: fields it does not know are ignored")
        }
        architecture = try Self.decode(
            UNetArchitecture.self, from: document.architecture, what: "architecture", file: path)
        do {
            network = try architecture.network()
        } catch {
            throw CheckpointError(.invalid, file: path, "the architecture is invalid", problems: error.problems)
        }
        metadata = try Self.decode(CheckpointMetadata.self, from: document.metadata, what: "metadata", file: path)

        // 2. Every dataset under /tensors, described; then each expected tensor checked.
        let found = try withHDF5Errors(file: path, "cannot list the tensors") {
            try DatasetWalk(root: root, under: "tensors")
        }
        var problems = found.problems
        var stored: [StoredTensor] = []
        var counters: [String: Int64] = [:]
        var expectedPaths = Set<String>()
        for spec in network.tensorSpecs {
            let datasetPath = document.renamedTensorPaths[spec.key] ?? spec.datasetPath
            expectedPaths.insert(datasetPath)
            guard let dataset = found.datasets[datasetPath] else {
                problems.append("missing tensor \(spec.key) (dataset \(datasetPath), shape \(spec.shape))")
                continue
            }
            do {
                stored.append(try Self.describe(dataset, spec: spec, path: datasetPath))
            } catch let error as TensorProblem {
                problems.append("tensor \(spec.key): \(error.message)")
            }
            if spec.key.hasSuffix(".running_mean") {
                let groupPath = String(datasetPath[..<datasetPath.lastIndex(of: "/")!])
                if let group = try? root.group(String(groupPath.dropFirst())),
                    (try? group.hasAttribute("num_batches_tracked")) == true
                {
                    do {
                        counters[spec.layer] = try group.integerAttribute("num_batches_tracked")
                    } catch {
                        problems.append("\(spec.layer): num_batches_tracked is not a scalar integer")
                    }
                }
            }
        }
        for extra in found.datasets.keys.sorted() where !expectedPaths.contains(extra) {
            warnings.append("dataset \(extra) is not part of the architecture (ignored)")
        }

        // 3. The optional probe.
        var probe: StoredProbe?
        if (try? root.contains("probe")) == true {
            do {
                probe = try Self.describeProbe(root, network: network)
            } catch let error as TensorProblem {
                problems.append("probe: \(error.message)")
            } catch let error as HDF5Error {
                problems.append("probe: cannot \(error.operation)")
            }
        }
        guard problems.isEmpty else {
            throw CheckpointError(
                .invalid, file: path, "the file does not match its architecture (schema \(version))", problems: problems
            )
        }
        tensors = stored
        normCounters = counters
        self.probe = probe
        self.warnings = warnings
        index = Dictionary(uniqueKeysWithValues: stored.enumerated().map { ($1.key, $0) })
    }

    /// The stored tensor with this canonical key, if the architecture has one.
    public func storedTensor(_ key: String) -> StoredTensor? { index[key].map { tensors[$0] } }

    /// Reads one tensor, checking its checksum unless `verifyChecksum` is false.
    public func tensor(_ key: String, verifyChecksum: Bool = true) throws -> Tensor {
        guard let info = storedTensor(key) else {
            throw CheckpointError(.invalidArgument, file: path, "no tensor \(key) in this architecture")
        }
        return try read(info, verifyChecksum: verifyChecksum)
    }

    /// Reads the whole checkpoint, checking every checksum unless `verifyChecksums` is false.
    /// Contiguous tensors are read straight from the file into their arrays, several at a time.
    /// - Parameters:
    ///   - verifyChecksums: compare every tensor's CRC-32 (and the probe's) with the file's.
    ///   - mapped: map the file instead (``FileMapping``): contiguous tensors then use the
    ///     file's pages in place, with no copy; the file must not be truncated or rewritten in
    ///     place while they are in use.
    public func read(verifyChecksums: Bool = true, mapped: Bool = false) throws -> Checkpoint {
        let loaded = try readAll(verifyChecksums: verifyChecksums, mapping: mapped ? FileMapping(path: path) : nil)
        return try Checkpoint(
            network: network, tensors: loaded, metadata: metadata, normCounters: normCounters,
            probe: try readProbe(verifyChecksums: verifyChecksums))
    }

    /// One tensor: from the mapping or with `pread` when it is contiguous, else through HDF5.
    private func read(
        _ info: StoredTensor, verifyChecksum: Bool, descriptor: Int32? = nil, mapping: FileMapping? = nil
    ) throws -> Tensor {
        let tensor: Tensor
        let offset = info.fileOffset.map { Int($0) + userBlockSize }
        func unreadable(_ reason: String) -> CheckpointError {
            CheckpointError(.io, file: path, "cannot read tensor \(info.key): \(reason)")
        }
        if let offset, let mapping {
            guard
                let elements = MappedElements(
                    mapping: mapping, offset: offset, dtype: info.dtype, count: info.spec.elementCount)
            else { throw unreadable("the file ends inside it") }
            tensor = Tensor(shape: info.shape, storage: .mapped(elements))
        } else if let offset, let descriptor {
            tensor = try Tensor.reading(dtype: info.dtype, shape: info.shape) { buffer in
                if let reason = PositionedRead.fill(buffer, from: descriptor, at: offset) { throw unreadable(reason) }
            }
        } else {
            tensor = try readData(at: info.datasetPath, dtype: info.dtype, shape: info.shape, key: info.key)
        }
        if verifyChecksum {
            let computed = tensor.crc32
            if computed != info.storedChecksum {
                throw CheckpointError(
                    .checksumMismatch, file: path,
                    "tensor \(info.key) is corrupt: its data has CRC-32 \(hex(computed)), the file recorded \(hex(info.storedChecksum))"
                )
            }
        }
        return tensor
    }

    /// Every tensor: contiguous ones on all cores (largest first), mapped or with `pread`; the
    /// others through HDF5, which is not thread-safe, one after the other.
    private func readAll(verifyChecksums: Bool, mapping: FileMapping?) throws -> [String: Tensor] {
        let opened = mapping == nil ? open(path, O_RDONLY | O_CLOEXEC) : -1
        defer { if opened >= 0 { close(opened) } }
        let descriptor = opened >= 0 ? opened : nil
        let direct = mapping != nil || descriptor != nil ? tensors.indices.filter { tensors[$0].fileOffset != nil } : []
        var results = [Result<Tensor, any Error>?](repeating: nil, count: tensors.count)
        let order = direct.sorted { tensors[$0].byteCount > tensors[$1].byteCount }
        results.withUnsafeMutableBufferPointer { slots in
            Parallel.forEach(order.count, threads: Parallel.cores) { position, _ in
                let index = order[position]
                slots[index] = Result {
                    try read(tensors[index], verifyChecksum: verifyChecksums, descriptor: descriptor, mapping: mapping)
                }
            }
        }
        var loaded: [String: Tensor] = [:]
        for (index, info) in tensors.enumerated() {
            loaded[info.key] = try results[index]?.get() ?? read(info, verifyChecksum: verifyChecksums)
        }
        return loaded
    }

    /// Reads the embedded probe, if any.
    public func readProbe(verifyChecksums: Bool = true) throws -> Probe? {
        guard let probe else { return nil }
        func read(_ name: String, shape: [Int]) throws -> Tensor {
            let tensor = try readData(at: "/probe/\(name)", dtype: .float32, shape: shape, key: "probe.\(name)")
            if verifyChecksums {
                let stored = try withHDF5Errors(file: path, "cannot read the probe") {
                    try file.root().dataset("probe/\(name)").uint32Attribute("crc32")
                }
                if tensor.crc32 != stored {
                    throw CheckpointError(.checksumMismatch, file: path, "the probe's \(name) is corrupt")
                }
            }
            return tensor
        }
        return Probe(
            input: try read("input", shape: probe.inputShape), output: try read("output", shape: probe.outputShape),
            relativeTolerance: probe.relativeTolerance, absoluteTolerance: probe.absoluteTolerance)
    }

    /// Checks every tensor's (and the probe's) data against its checksum.
    public func verify() -> VerificationReport {
        var failures: [VerificationReport.Failure] = []
        for info in tensors {
            do {
                _ = try tensor(info.key, verifyChecksum: true)
            } catch let error as CheckpointError {
                failures.append(.init(key: info.key, reason: error.message))
            } catch {
                failures.append(.init(key: info.key, reason: "\(error)"))
            }
        }
        if probe != nil {
            do {
                _ = try readProbe(verifyChecksums: true)
            } catch let error as CheckpointError {
                failures.append(.init(key: "probe", reason: error.message))
            } catch {
                failures.append(.init(key: "probe", reason: "\(error)"))
            }
        }
        return VerificationReport(file: path, checkedTensors: tensors.count, failures: failures)
    }

    // MARK: - Reading

    private func readData(at datasetPath: String, dtype: DType, shape: [Int], key: String) throws -> Tensor {
        try withHDF5Errors(file: path, "cannot read tensor \(key)") {
            let dataset = try file.root().dataset(String(datasetPath.dropFirst()))
            return try Tensor.reading(dtype: dtype, shape: shape) { try dataset.read(into: $0) }
        }
    }

    // MARK: - Validation helpers

    private static func openHDF5(_ path: String) throws -> HDF5File {
        guard FileManager.default.isReadableFile(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw CheckpointError(.io, file: path, exists ? "cannot read the file (permission denied)" : "no such file")
        }
        do {
            return try HDF5File.open(path)
        } catch let error as HDF5Error {
            throw CheckpointError(
                .notACheckpoint, file: path, "not an HDF5 file, or a damaged one", cause: error.description)
        }
    }

    private static func rootString(_ root: HDF5Group, _ name: String, file: String) throws -> String {
        guard (try? root.hasAttribute(name)) == true else {
            if name == "format" {
                throw CheckpointError(
                    .notACheckpoint, file: file,
                    "not a unet-ckpt checkpoint: the HDF5 file has no \"format\" attribute (a Keras or other HDF5 file?)"
                )
            }
            throw CheckpointError(.invalid, file: file, "the root attribute \"\(name)\" is missing")
        }
        do {
            return try root.stringAttribute(name)
        } catch let error as HDF5Error {
            throw CheckpointError(
                .invalid, file: file, "the root attribute \"\(name)\" is unreadable", cause: error.description)
        }
    }

    private static func rootJSON(_ root: HDF5Group, _ name: String, file: String) throws -> JSONValue {
        let text = try rootString(root, name, file: file)
        do {
            return try JSONValue(parsing: text)
        } catch {
            throw CheckpointError(
                .invalid, file: file, "the root attribute \"\(name)\" is not valid JSON", cause: error.description)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, what: String, file: String) throws
        -> T
    {
        do {
            return try value.decode(type)
        } catch let error as DecodingError {
            throw CheckpointError(
                .invalid, file: file, "the \(what) JSON does not follow the schema: \(error.readable(root: what))")
        }
    }

    private static func describe(_ dataset: HDF5Dataset, spec: TensorSpec, path: String) throws -> StoredTensor {
        func fail(_ message: String) -> TensorProblem { TensorProblem(message: message) }
        guard dataset.shape == spec.shape else {
            throw fail("shape \(dataset.shape) in the file, the architecture needs \(spec.shape)")
        }
        let dtypeText = (try? dataset.stringAttribute("dtype", limit: 64)) ?? ""
        guard let dtype = DType(rawValue: dtypeText) else {
            throw fail(
                dtypeText.isEmpty ? "no dtype attribute" : "dtype \"\(dtypeText)\" is not float32, float16 or bfloat16")
        }
        guard dataset.type.elementType == dtype.hdf5ElementType else {
            throw fail("stored as \(dataset.type), but its dtype attribute says \(dtype.rawValue)")
        }
        let layout = (try? dataset.stringAttribute("layout", limit: 64)) ?? ""
        guard layout == spec.layout.rawValue else {
            throw fail("layout \"\(layout)\" where the schema says \(spec.layout.rawValue)")
        }
        guard let checksum = try? dataset.uint32Attribute("crc32") else {
            throw fail("no crc32 attribute (an unsigned 32-bit integer)")
        }
        let storage = try describeStorage(dataset, expectedBytes: spec.elementCount * dtype.size)
        return StoredTensor(
            spec: spec, dtype: dtype, storedChecksum: checksum, storage: storage, storedByteCount: dataset.storageSize,
            fileOffset: dataset.layout == .contiguous ? dataset.fileOffset : nil, datasetPath: path)
    }

    /// Checks layout and filters, and that a contiguous dataset holds exactly its bytes.
    private static func describeStorage(_ dataset: HDF5Dataset, expectedBytes: Int) throws(TensorProblem) -> String {
        let names: [Int32: String] = [1: "gzip", 2: "shuffle"]
        if let unknown = dataset.filters.first(where: { names[$0] == nil }) {
            throw TensorProblem(message: "uses HDF5 filter \(unknown); only shuffle and gzip are allowed")
        }
        switch dataset.layout {
        case .contiguous, .compact:
            guard dataset.filters.isEmpty else { throw TensorProblem(message: "a contiguous dataset with filters") }
            if dataset.storageSize != expectedBytes {
                throw TensorProblem(
                    message: dataset.storageSize == 0
                        ? "no data was ever written"
                        : "holds \(dataset.storageSize) bytes, its shape and dtype need \(expectedBytes)")
            }
            return dataset.layout == .contiguous ? "contiguous" : "compact"
        case .chunked:
            return (["chunked"] + dataset.filters.compactMap { names[$0] }).joined(separator: "+")
        case .other:
            throw TensorProblem(message: "uses a virtual or unknown storage layout")
        }
    }

    private static func describeProbe(_ root: HDF5Group, network: UNetNetwork) throws -> StoredProbe {
        let rank = network.architecture.spatialDims + 2
        let group = try root.group("probe")
        var shapes: [String: [Int]] = [:]
        for name in ["input", "output"] {
            guard case .dataset(let dataset)? = try? group.child(name) else {
                throw TensorProblem(message: "no \(name) dataset")
            }
            guard dataset.type.elementType == .float32 else { throw TensorProblem(message: "\(name) is not float32") }
            guard dataset.shape.count == rank, let count = dataset.elementCount, count <= 1 << 28 else {
                throw TensorProblem(
                    message:
                        "\(name) has shape \(dataset.shape), expected \(rank) axes (N, C, space) of at most 2^28 values"
                )
            }
            do {
                _ = try describeStorage(dataset, expectedBytes: count * 4)
            } catch {
                throw TensorProblem(message: "\(name) \(error.message)")
            }
            guard (try? dataset.uint32Attribute("crc32")) != nil else {
                throw TensorProblem(message: "\(name) has no crc32 attribute")
            }
            shapes[name] = dataset.shape
        }
        let input = shapes["input"]!, output = shapes["output"]!
        guard input[1] == network.architecture.inChannels, output[1] == network.outputChannels, input[0] == output[0]
        else {
            throw TensorProblem(message: "input \(input) and output \(output) do not fit the architecture's channels")
        }
        return StoredProbe(
            inputShape: input, outputShape: output,
            relativeTolerance: (try? group.doubleAttribute("rtol")) ?? 1e-4,
            absoluteTolerance: (try? group.doubleAttribute("atol")) ?? 1e-5)
    }
}

/// The result of checking every checksum of a file.
public struct VerificationReport: Sendable {
    public struct Failure: Sendable, Equatable {
        public let key: String
        public let reason: String
    }
    public let file: String
    public let checkedTensors: Int
    public let failures: [Failure]
    public var isValid: Bool { failures.isEmpty }
}

/// Every dataset below a group, described, with problems for anything that is not a plain group
/// or dataset (soft and external links are never followed). Bounded in depth and count.
struct DatasetWalk {
    static let maximumObjects = 100_000
    static let maximumDepth = 16

    private(set) var datasets: [String: HDF5Dataset] = [:]
    private(set) var problems: [String] = []
    private var visited = 0

    init(root: HDF5Group, under name: String) throws {
        guard try root.contains(name), try root.kind(of: name) == .group else {
            problems.append("there is no /\(name) group")
            return
        }
        try walk(try root.group(name), path: "/" + name, depth: 1)
    }

    private mutating func walk(_ group: HDF5Group, path: String, depth: Int) throws {
        for child in try group.childNames() {
            visited += 1
            guard visited <= Self.maximumObjects, depth <= Self.maximumDepth else {
                problems.append(
                    "more than \(Self.maximumObjects) objects or \(Self.maximumDepth) levels under /tensors")
                return
            }
            let childPath = path + "/" + child
            switch try group.child(child) {
            case .group(let subgroup): try walk(subgroup, path: childPath, depth: depth + 1)
            case .dataset(let dataset): datasets[childPath] = dataset
            case .other: problems.append("\(childPath) is a link or an object that is not a group or dataset")
            }
        }
    }
}

func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

/// A problem with one tensor or the probe, collected into the file's list of problems.
private struct TensorProblem: Error { let message: String }

extension DecodingError {
    /// A one-line account naming the JSON path, e.g. `architecture.conv.kernel: expected Int`.
    func readable(root: String) -> String {
        func path(_ context: Context, _ extra: CodingKey? = nil) -> String {
            ([root]
                + (context.codingPath + (extra.map { [$0] } ?? [])).map { key in
                    key.intValue.map { "[\($0)]" } ?? key.stringValue
                }).joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch self {
        case .keyNotFound(let key, let context): return "\(path(context, key)) is missing"
        case .typeMismatch(let type, let context): return "\(path(context)) is not \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) is null, expected \(type)"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(self)"
        }
    }
}
