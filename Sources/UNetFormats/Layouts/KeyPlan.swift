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

    /// - Parameter lenient: recognise the layout from most keys rather than its marker keys,
    ///   and list the keys it does not map instead of refusing them.
    static func make(
        for source: inout SourceTensors, mapping: MappingFile?, file: String, notes: inout [String],
        lenient: Bool = false
    ) throws(FormatError) -> KeyPlan {
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

        let name: String
        let rename: (String) -> String?
        var known: [String: JSONValue]
        var kerasKernels = false
        var ignored: (String) -> Bool = { _ in false }
        if let mapping {
            name = mapping.layout
            rename = mapping.canonicalKey(for:)
            ignored = mapping.ignores
            known = mapping.architecture
        } else if source.isKeras {
            let keras = try KerasLayout.plan(source, file: file)
            name = KerasLayout.name
            rename = { keras.renames[$0] }
            known = keras.known
            notes += keras.assumptions.map { "assumption: \($0)" }
            kerasKernels = true
        } else if let layout = knownLayouts.first(where: { $0.recognizes(keySet) })
            ?? (lenient ? bestLayout(for: keySet) : nil)
        {
            let depth = layout.depth(of: keySet)
            name = layout.name
            rename = { layout.canonicalKey(for: $0, depth: depth) }
            known = layout.architectureDefaults(keySet)
        } else {
            let sample = keys.prefix(4).joined(separator: ", ")
            throw FormatError(
                .unsupported, file: file,
                "the keys (\(sample)\(keys.count > 4 ? ", …" : "")) follow no layout unet-ckpt knows "
                    + "(milesial, MONAI BasicUNet, Keras functional, unet-ckpt); describe them in a mapping file "
                    + "(--map, see docs/mapping.md)")
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
            } else if !ignored(key) {
                notes.append("skipped the integer entry \(key)")
            }
        }
        if stored != nil { known = [:] }
        return KeyPlan(
            layout: name, canonical: canonical, counters: counters, known: known, kerasKernels: kerasKernels,
            architecture: stored, unmapped: unmapped)
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
        return try ArchitectureInference.infer(shapes: tensors.mapValues(\.shape), known: known, file: file)
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
