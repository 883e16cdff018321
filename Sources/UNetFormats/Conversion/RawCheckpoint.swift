import UNetCheckpoint

/// A foreign file's tensors under its own keys, for a file no layout describes: what `inspect`
/// shows instead of a network, with the reason no layout matched.
public struct RawCheckpoint: Sendable, Encodable {
    public struct Entry: Sendable, Encodable {
        public let key: String
        public let shape: [Int]
        public let dtype: String
        public var parameterCount: Int { shape.reduce(1, *) }
        public var byteCount: Int { parameterCount * (DType(rawValue: dtype)?.size ?? 4) }

        enum CodingKeys: String, CodingKey { case key, shape, dtype, parameterCount = "parameter_count" }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(key, forKey: .key)
            try c.encode(shape, forKey: .shape)
            try c.encode(dtype, forKey: .dtype)
            try c.encode(parameterCount, forKey: .parameterCount)
        }
    }

    /// Tensors sharing the first components of their keys.
    public struct Group: Sendable, Encodable {
        public let prefix: String
        public let tensorCount: Int
        public let parameterCount: Int
        enum CodingKeys: String, CodingKey {
            case prefix
            case tensorCount = "tensor_count", parameterCount = "parameter_count"
        }
    }

    public let file: String
    public let format: CheckpointFormat
    /// Float tensors in file order.
    public let tensors: [Entry]
    /// Integer scalars (`num_batches_tracked`).
    public let integers: [String]
    /// The file's other entries, as compact JSON text.
    public let entries: [String: String]
    /// Entries left out, each with the reason.
    public let skipped: [String]
    /// Why no layout describes the keys: the error of the layout that came nearest.
    public let reason: String

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.parameterCount } }

    /// The keys grouped by their first component (their first two when they all share one), in
    /// file order.
    public func groups() -> [Group] {
        let first = groups(depth: 1)
        return first.count == 1 ? groups(depth: 2) : first
    }

    /// The keys grouped by their first `depth` components, in file order.
    public func groups(depth: Int) -> [Group] {
        var order: [String] = []
        var counts: [String: (tensors: Int, parameters: Int)] = [:]
        for entry in tensors {
            let parts = entry.key.split(separator: ".", omittingEmptySubsequences: false)
            let prefix = parts.count > depth ? parts.prefix(depth).joined(separator: ".") + "." : entry.key
            if counts[prefix] == nil { order.append(prefix) }
            counts[prefix, default: (0, 0)].tensors += 1
            counts[prefix, default: (0, 0)].parameters += entry.parameterCount
        }
        return order.map { Group(prefix: $0, tensorCount: counts[$0]!.tensors, parameterCount: counts[$0]!.parameters) }
    }

    enum CodingKeys: String, CodingKey {
        case file, format, tensors, integers, entries, skipped, reason, groups
        case parameterCount = "parameter_count"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file, forKey: .file)
        try c.encode(format.rawValue, forKey: .format)
        try c.encode(reason, forKey: .reason)
        try c.encode(parameterCount, forKey: .parameterCount)
        try c.encode(groups(), forKey: .groups)
        try c.encode(tensors, forKey: .tensors)
        try c.encode(integers, forKey: .integers)
        try c.encode(entries, forKey: .entries)
        try c.encode(skipped, forKey: .skipped)
    }
}

extension CheckpointImporter {
    /// Reads a foreign file's tensors under its own keys, without a layout, for a file whose
    /// layout is unknown. Damaged files fail as they do for ``read(_:format:mapping:weights:mapFile:)``.
    /// - Parameters:
    ///   - path: the file.
    ///   - reason: why the layouts did not describe it (the reading's error).
    public static func readRaw(_ path: String, reason: String) throws -> RawCheckpoint {
        let (file, beside) = try ModelFolder.resolve(path)
        let format = try CheckpointFormat.detect(file)
        guard let source = try foreignTensors(file, format: format) else {
            throw FormatError(.unsupported, file: path, "a unet-ckpt checkpoint always has its network")
        }
        var entries = source.extras.merging(source.containerEntries) { $1 }.mapValues {
            String($0.compactText.prefix(200))
        }
        for (name, value) in beside { entries[name] = String(value.compactText.prefix(200)) }
        return RawCheckpoint(
            file: path, format: format,
            tensors: source.tensors.map { .init(key: $0.key, shape: $0.tensor.shape, dtype: $0.tensor.dtype.rawValue) },
            integers: source.integers.map(\.key), entries: entries, skipped: source.skipped, reason: reason)
    }
}
