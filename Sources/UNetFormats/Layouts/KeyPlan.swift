import Foundation
import UNetCheckpoint

/// How one source file's keys become canonical keys, and what is known of its architecture
/// besides the shapes.
struct KeyPlan {
    /// The layout name recorded in the metadata.
    let layout: String
    /// Source tensor key → canonical key.
    let canonical: [String: String]
    /// Source integer key (`…num_batches_tracked`) → canonical norm layer.
    let counters: [String: String]
    /// Architecture fields the weights cannot show.
    let known: [String: JSONValue]
    /// Keras kernels are HWIO (and transposed ones HW-out-in): turned into OIHW / IOHW.
    let kerasKernels: Bool
    /// The whole architecture, when the file carries it (safetensors exported by unet-ckpt).
    let architecture: UNetArchitecture?
    /// Source tensor keys the layout does not map (only a lenient plan keeps them instead of failing).
    let unmapped: [String]
    /// What a library layout read: the library, its arguments, assumptions and metadata.
    var library: LayoutReading? = nil
    /// Top-level metadata fields the layout records (a Keras graph's model config).
    var metadataFields: [String: JSONValue] = [:]

    /// - Parameter lenient: recognise the layout from most keys rather than its marker keys,
    ///   and list the keys it does not map instead of refusing them.
    /// - Parameter entries: the container's other entries and the JSON files beside the weights
    ///   (``ModelFolder``), for the library layouts.
    static func make(
        for source: inout SourceTensors, mapping: MappingFile?, file: String, notes: inout [String],
        entries: [String: JSONValue] = [:], lenient: Bool = false
    ) throws(FormatError) -> KeyPlan {
        // A mapping file that builds on a layout brings the keys to that layout's, which then reads them.
        var mapping = mapping
        var base: (name: String, architecture: [String: JSONValue], arguments: [String: JSONValue])?
        if let rebasing = mapping, let name = rebasing.base {
            source = rebasing.rebase(source, notes: &notes)
            base = (name, rebasing.architecture, rebasing.arguments)
            mapping = nil
        }
        let keys = source.tensors.map(\.key)
        let keySet = Set(keys)
        var stored: UNetArchitecture?
        if case .string(let text)? = source.extras[ExportMetadataKeys.architecture] {
            // Written by unet-ckpt: schema 2.0's description, or 1.0's from older versions.
            let data = Data(text.utf8)
            stored =
                (try? JSONDecoder().decode(UNetArchitecture.self, from: data))
                ?? (try? JSONDecoder().decode(ArchitectureV1.self, from: data)).flatMap { v1 in
                    (try? v1.validate()).map { UNetArchitecture(v1) }
                }
        }

        let input = layoutInput(source, entries: entries, file: file)
        let name: String
        let rename: (String) -> String?
        var known: [String: JSONValue]
        var kerasKernels = false
        var ignored: (String) -> Bool = { _ in false }
        var library: LayoutReading?
        var metadataFields: [String: JSONValue] = [:]
        if let mapping {
            name = mapping.layout
            rename = mapping.canonicalKey(for:)
            ignored = mapping.ignores
            known = mapping.architecture
        } else if source.isKeras {
            let keras = try KerasLayout.plan(source, file: file)
            name = keras.layout
            rename = { keras.renames[$0] }
            known = keras.known
            stored = keras.architecture ?? stored
            notes += keras.assumptions.map { "assumption: \($0)" }
            kerasKernels = true
            metadataFields = keras.metadata
        } else if let layout = libraryLayouts.first(where: { layout in
            base.map { layout.name == $0.name } ?? layout.recognizes(input)
        }) {
            let arguments = AssumedArguments.stating(base?.arguments ?? [:], in: try layout.arguments(input))
            var reading = try layout.reading(arguments, file: file)
            reading.metadata = layout.metadata(input)
            let canonicalByKey = Dictionary(reading.keys, uniquingKeysWith: { first, _ in first })
            let skipped = try checkedCopies(reading, in: source, file: file, notes: &notes)
            name = layout.name
            rename = { canonicalByKey[$0] }
            ignored = skipped.contains
            known = [:]
            stored = reading.architecture
            library = reading
            notes += reading.assumptions.map { "assumption: \($0)" }
        } else if let layout = knownLayouts.first(where: { layout in
            base.map { layout.name == $0.name } ?? layout.recognizes(keySet)
        })
            ?? (lenient ? bestLayout(for: keySet) : nil)
        {
            let depth = layout.depth(of: keySet)
            name = layout.name
            rename = { layout.canonicalKey(for: $0, depth: depth) }
            known = layout.architectureDefaults(keySet)
            if let overrides = base?.architecture,
                case .object(let merged) = JSONValue.object(known).merging(.object(overrides))
            {
                known = merged
            }
        } else if lenient {
            // Compared under the file's own keys.
            name = "raw keys"
            rename = { $0 }
            known = [:]
        } else {
            throw noLayout(input)
        }

        var canonical: [String: String] = [:]
        var unmapped: [String] = []
        var taken: [String: String] = [:]
        for key in keys where !ignored(key) {
            guard let target = rename(key) else {
                unmapped.append(key)
                continue
            }
            if let other = taken[target] {
                throw FormatError(.unsupported, file: file, "both \(other) and \(key) map to \(target)")
            }
            taken[target] = key
            canonical[key] = target
        }
        guard unmapped.isEmpty || lenient else {
            throw FormatError(
                .unsupported, file: file,
                "\(unmapped.count) tensor(s) are not part of the \(name) layout: "
                    + unmapped.prefix(8).joined(separator: ", ") + (unmapped.count > 8 ? ", …" : "")
                    + (mapping == nil ? " (a mapping file can rename or ignore them: --map)" : ""))
        }
        var counters: [String: String] = [:]
        let suffix = ".num_batches_tracked"
        for (key, _) in source.integers {
            if key.hasSuffix(suffix), let target = rename(String(key.dropLast(suffix.count)) + ".running_mean"),
                target.hasSuffix(".running_mean")
            {
                counters[key] = String(target.dropLast(".running_mean".count))
            } else if !ignored(key), !ignored(String(key.dropLast(suffix.count)) + ".running_mean") {
                notes.append("skipped the integer entry \(key)")
            }
        }
        if stored != nil { known = [:] }
        return KeyPlan(
            layout: name, canonical: canonical, counters: counters, known: known, kerasKernels: kerasKernels,
            architecture: stored, unmapped: unmapped, library: library, metadataFields: metadataFields)
    }

    private static func layoutInput(_ source: SourceTensors, entries: [String: JSONValue], file: String) -> LayoutInput
    {
        LayoutInput(
            keys: source.tensors.map(\.key),
            shapes: Dictionary(
                source.tensors.map { ($0.key, $0.tensor.shape) }, uniquingKeysWith: { first, _ in first }),
            entries: entries.merging(source.extras) { folder, _ in folder }.merging(source.containerEntries) { $1 },
            file: file)
    }

    /// The keys a library layout reads past: second copies of a tensor, which must equal the
    /// first (a file where they differ would compute something else depending on which is read),
    /// and tensors the library's forward never reads.
    private static func checkedCopies(
        _ reading: LayoutReading, in source: SourceTensors, file: String, notes: inout [String]
    ) throws(FormatError) -> Set<String> {
        let tensors = Dictionary(source.tensors.map { ($0.key, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        var skipped = Set<String>()
        var copies = 0
        for (alias, original) in reading.aliases {
            guard let copy = tensors[alias] else { continue }
            guard let first = tensors[original], copy == first else {
                throw FormatError(
                    .unsupported, file: file,
                    "\(alias) should be a second copy of \(original), but the two tensors differ; which one the "
                        + "library would use depends on how it is loaded, so the file is not read")
            }
            skipped.insert(alias)
            copies += 1
        }
        if copies > 0 { notes.append("read past \(copies) second copies of tensors the library stores twice") }
        let unused = reading.unused.map(\.key).filter { tensors[$0] != nil }
        if !unused.isEmpty {
            skipped.formUnion(unused)
            notes.append("left out \(unused.count) tensors the library holds but its forward never reads")
        }
        return skipped
    }

    /// Why no layout describes the keys: the nearest layout and how many keys it maps, and a
    /// mapping file suggested only where one can describe the network (2-D, schema 1.0 families).
    private static func noLayout(_ input: LayoutInput) -> FormatError {
        let keys = input.keys
        let sample = keys.prefix(4).joined(separator: ", ") + (keys.count > 4 ? ", …" : "")
        var message = "the keys (\(sample)) follow no layout unet-ckpt knows"
        let keySet = Set(keys)
        if let nearest = bestLayout(for: keySet), nearest != CanonicalLayout.self {
            let depth = nearest.depth(of: keySet)
            let unmapped = keys.filter { nearest.canonicalKey(for: $0, depth: depth) == nil }
            message +=
                "; the nearest is \(nearest.name), which maps \(keys.count - unmapped.count) of \(keys.count) keys "
                + "(not \(unmapped.prefix(3).joined(separator: ", "))\(unmapped.count > 3 ? ", …" : ""))"
        }
        if let volume = keys.first(where: { input.shapes[$0]?.count == 5 }) {
            message +=
                "; its weights are 3-D (\(volume) is 5-D), which a mapping file cannot describe (it names 2-D "
                + "networks of the schema 1.0 families); the 3-D layouts unet-ckpt reads are in docs/layouts.md"
        } else {
            message += " (layouts: docs/layouts.md); describe them in a mapping file (--map, see docs/mapping.md)"
        }
        return FormatError(.unsupported, file: input.file, message)
    }

    /// The known layout that maps the most keys, for a file whose marker keys may be missing.
    private static func bestLayout(for keys: Set<String>) -> (any ProjectLayout.Type)? {
        func score(_ layout: any ProjectLayout.Type) -> Int {
            if layout == CanonicalLayout.self {
                return keys.count { key in ["encoder.", "decoder.", "head."].contains { key.hasPrefix($0) } }
            }
            let depth = layout.depth(of: keys)
            return keys.count { layout.canonicalKey(for: $0, depth: depth) != nil }
        }
        let best = knownLayouts.map { ($0, score($0)) }.max { $0.1 < $1.1 }
        return best.flatMap { $0.1 > 0 ? $0.0 : nil }
    }

    /// The mapped tensors under their canonical keys (Keras kernels in canonical axis order).
    func canonicalTensors(from source: SourceTensors) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (key, tensor) in source.tensors {
            guard let target = canonical[key] else { continue }
            tensors[target] = kerasKernels && tensor.shape.count == 4 ? tensor.permuted([3, 2, 0, 1]) : tensor
        }
        return tensors
    }

    /// The BatchNorm counters by canonical norm layer.
    func normCounters(from source: SourceTensors) -> [String: Int64] {
        var normCounters: [String: Int64] = [:]
        for (key, value) in source.integers { if let layer = counters[key] { normCounters[layer] = value } }
        return normCounters
    }

    /// The architecture the file carries, or the one inferred from these tensors.
    func architecture(for tensors: [String: Tensor], file: String) throws(FormatError) -> UNetArchitecture {
        if let stored = architecture { return stored }
        // The schema 1.0 families inferred here are 2-D: name 3-D weights instead of missing levels.
        if let volume = tensors.keys.sorted().first(where: { tensors[$0]?.shape.count == 5 }) {
            throw FormatError(
                .unsupported, file: file,
                "3-D weights in a \(layout) layout (\(canonicalSource(of: volume)) is 5-D): the \(layout) layout "
                    + "describes 2-D networks; the 3-D layouts unet-ckpt reads are in docs/layouts.md")
        }
        return try ArchitectureInference.infer(shapes: tensors.mapValues(\.shape), known: known, file: file)
    }

    /// The source key of a canonical key, for messages.
    private func canonicalSource(of key: String) -> String {
        canonical.first { $0.value == key }?.key ?? key
    }

    /// The canonical checkpoint: renamed tensors, the inferred architecture, counters.
    func checkpoint(from source: SourceTensors, file: String) throws(FormatError) -> Checkpoint {
        let tensors = canonicalTensors(from: source)
        let architecture = try architecture(for: tensors, file: file)
        let normCounters = normCounters(from: source)
        do {
            return try Checkpoint(architecture: architecture, tensors: tensors, normCounters: normCounters)
        } catch let error as CheckpointError {
            throw FormatError(
                .unsupported, file: file,
                "the weights do not fit the \(layout) architecture inferred from them: "
                    + (error.problems.isEmpty ? error.message : error.problems.prefix(6).joined(separator: "; ")))
        } catch {
            throw FormatError(.unsupported, file: file, "\(error)")
        }
    }
}

extension Tensor {
    /// The tensor with its axes reordered: axis `i` of the result is axis `axes[i]` of this one.
    func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(shape.indices), "a permutation of the axes")
        let newShape = axes.map { shape[$0] }
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) {
            strides[axis] = strides[axis + 1] * shape[axis + 1]
        }
        let newStrides = axes.map { strides[$0] }
        func gather<T>(_ values: [T]) -> [T] { stridedCopy(values, offset: 0, shape: newShape, strides: newStrides) }
        switch storage {
        case .float32(let values): return Tensor(shape: newShape, storage: .float32(gather(values)))
        case .float16(let bits): return Tensor(shape: newShape, storage: .float16(gather(bits)))
        case .bfloat16(let bits): return Tensor(shape: newShape, storage: .bfloat16(gather(bits)))
        case .mapped: return materialized().permuted(axes)
        }
    }
}
