/// What one side of a comparison holds: tensors under canonical keys, which may be incomplete
/// or have extras, the architecture when it is known, metadata and BatchNorm counters.
///
/// Tensor data is loaded one tensor at a time through ``tensor(_:)``: a ``CheckpointFile`` reads
/// it from the file on demand, so comparing two large checkpoints holds two tensors in memory.
public struct CheckpointContents {
    /// A tensor's key, shape and element type, known without reading its data.
    public struct Entry: Codable, Hashable, Sendable {
        public let key: String
        public let shape: [Int]
        public let dtype: DType
        public init(key: String, shape: [Int], dtype: DType) {
            self.key = key
            self.shape = shape
            self.dtype = dtype
        }
    }

    /// The architecture, or nil when it could not be told (see ``notes``).
    public let architecture: UNetArchitecture?
    public let metadata: CheckpointMetadata
    /// Every tensor: the architecture's in canonical order, then any others by key.
    public let entries: [Entry]
    /// PyTorch's BatchNorm `num_batches_tracked` by norm layer, when known.
    public let normCounters: [String: Int64]
    /// What reading noticed: keys no layout maps, tensors the architecture lacks or misses.
    public let notes: [String]
    private let load: (String) throws -> Tensor

    /// Contents whose tensors are produced on demand by `load` (called once per key).
    public init(
        architecture: UNetArchitecture?, metadata: CheckpointMetadata, entries: [Entry],
        normCounters: [String: Int64] = [:], notes: [String] = [], load: @escaping (String) throws -> Tensor
    ) {
        self.architecture = architecture
        self.metadata = metadata
        self.entries = Self.ordered(entries, by: architecture)
        self.normCounters = normCounters
        self.notes = notes
        self.load = load
    }

    /// Contents of tensors already in memory; with an architecture, the tensors it misses or
    /// does not have (or whose shape it contradicts) are noted.
    public init(
        tensors: [String: Tensor], architecture: UNetArchitecture?, metadata: CheckpointMetadata,
        normCounters: [String: Int64] = [:], notes: [String] = []
    ) {
        var notes = notes
        if let architecture {
            do {
                notes += Checkpoint.problems(
                    of: tensors.mapValues(\.shape), specs: try architecture.network().tensorSpecs)
            } catch {
                notes.append(error.description)
            }
        }
        self.init(
            architecture: architecture, metadata: metadata,
            entries: tensors.map { Entry(key: $0.key, shape: $0.value.shape, dtype: $0.value.dtype) },
            normCounters: normCounters, notes: notes
        ) { key in
            guard let tensor = tensors[key] else {
                throw CheckpointError(.invalidArgument, file: nil, "no tensor \(key)")
            }
            return tensor
        }
    }

    /// A checkpoint in memory.
    public init(_ checkpoint: Checkpoint) {
        self.init(
            tensors: checkpoint.tensors, architecture: checkpoint.architecture, metadata: checkpoint.metadata,
            normCounters: checkpoint.normCounters)
    }

    /// An opened checkpoint file; each tensor is read (and its checksum checked) when asked for.
    public init(_ file: CheckpointFile) {
        self.init(
            architecture: file.architecture, metadata: file.metadata,
            entries: file.tensors.map { Entry(key: $0.key, shape: $0.shape, dtype: $0.dtype) },
            normCounters: file.normCounters, notes: file.warnings
        ) { try file.tensor($0) }
    }

    /// The tensor with this key (an ``entries`` key).
    public func tensor(_ key: String) throws -> Tensor { try load(key) }

    /// The architecture's tensors first, in canonical order, then the rest by key.
    private static func ordered(_ entries: [Entry], by architecture: UNetArchitecture?) -> [Entry] {
        var rank: [String: Int] = [:]
        let specs = (try? architecture?.network())?.tensorSpecs ?? []
        for (index, spec) in specs.enumerated() { rank[spec.key] = index }
        return entries.sorted { a, b in
            switch (rank[a.key], rank[b.key]) {
            case let (x?, y?): x < y
            case (.some, nil): true
            case (nil, .some): false
            case (nil, nil): a.key < b.key
            }
        }
    }
}
