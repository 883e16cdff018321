import Foundation

/// What decides that two checkpoints are equal.
public struct ComparisonOptions: Hashable, Sendable {
    /// `atol` of the rule `|a − b| ≤ atol + rtol·|b|` (numpy's `allclose`, B the reference).
    public var absoluteTolerance: Double
    /// `rtol` of the same rule.
    public var relativeTolerance: Double
    /// Whether a tensor stored in another element type counts as a difference when its values
    /// are equal within the tolerance (by default it does).
    public var ignoreDType: Bool
    /// Whether the metadata fields every conversion changes (``provenanceFields``) count.
    public var allMetadata: Bool

    /// Metadata fields that record where a file came from and what wrote it: a conversion
    /// always differs from its source there, so they are compared only with ``allMetadata``.
    public static let provenanceFields: Set<String> = ["source", "writer"]

    public init(
        absoluteTolerance: Double = 0, relativeTolerance: Double = 0, ignoreDType: Bool = false,
        allMetadata: Bool = false
    ) {
        self.absoluteTolerance = absoluteTolerance
        self.relativeTolerance = relativeTolerance
        self.ignoreDType = ignoreDType
        self.allMetadata = allMetadata
    }
}

/// Everything that differs between two checkpoints compared through their canonical keys:
/// per tensor statistics, tensors on one side only, shape mismatches, architecture, metadata and
/// BatchNorm counter differences.
///
/// The two are ``equal`` when every tensor is on both sides with one shape and equal values
/// within the tolerance, in one element type (unless ``ComparisonOptions/ignoreDType``), and
/// architecture, metadata (but provenance, unless ``ComparisonOptions/allMetadata``) and the
/// counters both sides hold agree.
public struct CheckpointComparison: Sendable {
    /// A tensor present on both sides with two shapes (its values are not compared).
    public struct ShapeMismatch: Codable, Hashable, Sendable {
        public let key: String
        public let shapeA: [Int]
        public let shapeB: [Int]
        public let dtypeA: DType
        public let dtypeB: DType
        enum CodingKeys: String, CodingKey {
            case key
            case shapeA = "shape_a", shapeB = "shape_b", dtypeA = "dtype_a", dtypeB = "dtype_b"
        }
    }

    /// A field (a dotted path into the JSON document, e.g. `encoder[3].convs`) with two values;
    /// nil on the side that lacks it.
    public struct FieldDifference: Codable, Hashable, Sendable {
        public let field: String
        public let a: JSONValue?
        public let b: JSONValue?

        enum CodingKeys: String, CodingKey { case field, a, b }

        public init(field: String, a: JSONValue?, b: JSONValue?) {
            self.field = field
            self.a = a
            self.b = b
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(field, forKey: .field)
            try c.encode(a ?? .null, forKey: .a)
            try c.encode(b ?? .null, forKey: .b)
        }
    }

    /// A BatchNorm `num_batches_tracked` both sides hold, with two values.
    public struct CounterDifference: Codable, Hashable, Sendable {
        public let layer: String
        public let a: Int64
        public let b: Int64
    }

    public let options: ComparisonOptions
    /// Tensors on both sides with one shape, the largest change first: non-finite mismatches,
    /// then the largest absolute difference, then the lowest cosine, then canonical order.
    public let tensors: [TensorDifference]
    public let onlyInA: [CheckpointContents.Entry]
    public let onlyInB: [CheckpointContents.Entry]
    public let shapeMismatches: [ShapeMismatch]
    /// Whether each side's architecture is known (an incomplete file may not tell it).
    public let architectureKnown: (a: Bool, b: Bool)
    /// Architecture fields that differ (empty when either architecture is unknown).
    public let architecture: [FieldDifference]
    /// Metadata fields that differ and count.
    public let metadata: [FieldDifference]
    /// Metadata fields that differ but do not count (provenance, without `allMetadata`).
    public let ignoredMetadata: [FieldDifference]
    /// Counters both sides hold that differ. A counter on one side only is not compared: some
    /// formats (Keras) cannot hold them.
    public let normCounters: [CounterDifference]

    /// Compares `a` with `b`, reading two tensors at a time.
    /// - Throws: the error of a tensor that cannot be read.
    public init(_ a: CheckpointContents, _ b: CheckpointContents, options: ComparisonOptions = ComparisonOptions())
        throws
    {
        self.options = options
        let entriesB = Dictionary(b.entries.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let keysA = Set(a.entries.map(\.key))
        var tensors: [(order: Int, difference: TensorDifference)] = []
        var mismatches: [ShapeMismatch] = []
        for (order, entry) in a.entries.enumerated() {
            guard let other = entriesB[entry.key] else { continue }
            guard entry.shape == other.shape else {
                mismatches.append(
                    ShapeMismatch(
                        key: entry.key, shapeA: entry.shape, shapeB: other.shape, dtypeA: entry.dtype,
                        dtypeB: other.dtype))
                continue
            }
            let difference = TensorDifference(
                key: entry.key, a: try a.tensor(entry.key), b: try b.tensor(entry.key),
                absoluteTolerance: options.absoluteTolerance, relativeTolerance: options.relativeTolerance)
            tensors.append((order, difference))
        }
        self.tensors = tensors.sorted { x, y in
            let (p, q) = (x.difference, y.difference)
            if p.nonFinite != q.nonFinite { return p.nonFinite > q.nonFinite }
            if p.maxAbs != q.maxAbs { return p.maxAbs > q.maxAbs }
            if p.cosine != q.cosine { return (p.cosine ?? 1) < (q.cosine ?? 1) }
            return x.order < y.order
        }.map(\.difference)
        shapeMismatches = mismatches
        onlyInA = a.entries.filter { entriesB[$0.key] == nil }
        onlyInB = b.entries.filter { !keysA.contains($0.key) }

        architectureKnown = (a.architecture != nil, b.architecture != nil)
        if let architectureA = a.architecture, let architectureB = b.architecture {
            architecture = try Self.fieldDifferences(architectureA, architectureB)
        } else {
            architecture = []
        }
        let fields = try Self.fieldDifferences(a.metadata, b.metadata)
        func isProvenance(_ difference: FieldDifference) -> Bool {
            let top = difference.field.prefix { $0 != "." && $0 != "[" }
            return ComparisonOptions.provenanceFields.contains(String(top))
        }
        metadata = fields.filter { options.allMetadata || !isProvenance($0) }
        ignoredMetadata = fields.filter { !options.allMetadata && isProvenance($0) }
        normCounters = a.normCounters.keys.sorted().compactMap { layer in
            guard let x = a.normCounters[layer], let y = b.normCounters[layer], x != y else { return nil }
            return CounterDifference(layer: layer, a: x, b: y)
        }
    }

    /// Compared tensors not equal within the tolerance.
    public var changedTensors: [TensorDifference] { tensors.filter { !$0.withinTolerance } }
    /// Compared tensors stored in two element types.
    public var dtypeDifferences: [TensorDifference] { tensors.filter(\.dtypeDiffers) }
    /// The tensor with the largest change, when any value differs at all.
    public var largestChange: TensorDifference? { tensors.first.flatMap { $0.valuesIdentical ? nil : $0 } }

    /// Whether both sides hold the same tensors with one shape and values equal within the tolerance.
    public var valuesEqual: Bool {
        onlyInA.isEmpty && onlyInB.isEmpty && shapeMismatches.isEmpty && tensors.allSatisfy(\.withinTolerance)
    }

    /// Whether nothing that counts differs (see the type's description).
    public var equal: Bool {
        valuesEqual && (options.ignoreDType || dtypeDifferences.isEmpty) && architecture.isEmpty
            && metadata.isEmpty && normCounters.isEmpty
    }

    /// The fields of two JSON documents that differ, by dotted path. Objects are compared key by
    /// key and arrays of objects or arrays element by element; other values as a whole.
    static func fieldDifferences<T: Encodable>(_ a: T, _ b: T) throws -> [FieldDifference] {
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        let x = try decoder.decode(JSONValue.self, from: encoder.encode(a))
        let y = try decoder.decode(JSONValue.self, from: encoder.encode(b))
        var differences: [FieldDifference] = []
        collectDifferences(x, y, path: "", into: &differences)
        return differences
    }

    private static func collectDifferences(
        _ a: JSONValue?, _ b: JSONValue?, path: String, into differences: inout [FieldDifference]
    ) {
        // A missing object compares as an empty one, so that its fields are named one by one.
        switch (
            a ?? b.flatMap { $0.isObject ? .object([:]) : nil }, b ?? a.flatMap { $0.isObject ? .object([:]) : nil }
        ) {
        case (.object(let x)?, .object(let y)?):
            for key in Set(x.keys).union(y.keys).sorted() {
                collectDifferences(x[key], y[key], path: path.isEmpty ? key : "\(path).\(key)", into: &differences)
            }
        case (.array(let x)?, .array(let y)?)
        where x.count == y.count && x.contains(where: \.isContainer):
            for index in x.indices {
                collectDifferences(x[index], y[index], path: "\(path)[\(index)]", into: &differences)
            }
        default:
            if a != b { differences.append(FieldDifference(field: path, a: a, b: b)) }
        }
    }
}

extension JSONValue {
    fileprivate var isObject: Bool {
        if case .object = self { true } else { false }
    }

    fileprivate var isContainer: Bool {
        switch self {
        case .object, .array: true
        default: false
        }
    }
}

extension CheckpointComparison: Encodable {
    enum CodingKeys: String, CodingKey {
        case equal, tensors, architecture, metadata
        case valuesEqual = "values_equal", tolerance, counts, largestChange = "largest_change"
        case onlyInA = "only_in_a", onlyInB = "only_in_b", shapeMismatches = "shape_mismatches"
        case dtypeDifferences = "dtype_differences", architectureKnown = "architecture_known"
        case ignoredMetadata = "ignored_metadata", normCounters = "num_batches_tracked"
    }

    /// The JSON document of `unet-ckpt diff --json` (docs/cli.md).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(equal, forKey: .equal)
        try c.encode(valuesEqual, forKey: .valuesEqual)
        let tolerance: [String: JSONValue] = [
            "atol": .number(options.absoluteTolerance), "rtol": .number(options.relativeTolerance),
            "ignore_dtype": .bool(options.ignoreDType), "all_metadata": .bool(options.allMetadata),
        ]
        try c.encode(tolerance, forKey: .tolerance)
        let counts: [String: Int] = [
            "compared": tensors.count, "changed": changedTensors.count,
            "identical": tensors.count(where: \.valuesIdentical),
            "dtype_differences": dtypeDifferences.count, "only_in_a": onlyInA.count, "only_in_b": onlyInB.count,
            "shape_mismatches": shapeMismatches.count, "architecture": architecture.count,
            "metadata": metadata.count, "num_batches_tracked": normCounters.count,
        ]
        try c.encode(counts, forKey: .counts)
        try c.encode(largestChange?.key, forKey: .largestChange)
        try c.encode(tensors, forKey: .tensors)
        try c.encode(onlyInA, forKey: .onlyInA)
        try c.encode(onlyInB, forKey: .onlyInB)
        try c.encode(shapeMismatches, forKey: .shapeMismatches)
        try c.encode(dtypeDifferences.map(\.key), forKey: .dtypeDifferences)
        try c.encode(["a": architectureKnown.a, "b": architectureKnown.b], forKey: .architectureKnown)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(metadata, forKey: .metadata)
        try c.encode(ignoredMetadata, forKey: .ignoredMetadata)
        try c.encode(normCounters, forKey: .normCounters)
    }
}
