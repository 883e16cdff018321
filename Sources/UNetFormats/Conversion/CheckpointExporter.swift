import Foundation
import UNetCheckpoint

/// Writes a canonical `Checkpoint` in any supported format, in the key layout of a project
/// (by default the one it came from), so that the project's own code loads it.
public enum CheckpointExporter {
    /// Layouts that can be written, by format.
    static func layouts(for format: CheckpointFormat) -> [String] {
        switch format {
        case .unetH5: [CanonicalLayout.name]
        case .pytorch, .safetensors:
            [MilesialLayout.name, MilesialSequentialLayout.name, MonaiBasicUNetLayout.name]
                + libraryLayouts.map { $0.name }.filter { $0 != MonaiBasicUNetLayout.name } + [CanonicalLayout.name]
        case .kerasH5, .kerasWeights: [KerasLayout.graphName, KerasLayout.name]
        case .keras, .bioimageio: []
        }
    }

    /// Writes `checkpoint` to `path` atomically.
    /// - Parameters:
    ///   - checkpoint: what to write.
    ///   - path: the file to write (replaced as a whole, or left as it was on failure).
    ///   - format: the format to write.
    ///   - layout: the key layout; by default the source's (`metadata.source.layout`) when the
    ///     format can hold it, else unet-ckpt's canonical keys.
    ///   - options: storage, schema version and metadata still to come, for unet-ckpt files.
    /// - Returns: notes for the user (what was not written, which layout was chosen).
    @discardableResult
    public static func write(
        _ checkpoint: Checkpoint, to path: String, format: CheckpointFormat, layout: String? = nil,
        options: WriteOptions = WriteOptions()
    ) throws -> [String] {
        // Only unet-ckpt's writer can take metadata late; the others need it complete first.
        var checkpoint = checkpoint
        var options = options
        if format != .unetH5, let complete = options.completeMetadata {
            checkpoint.metadata = try complete(checkpoint.metadata)
            options.completeMetadata = nil
        }
        if format == .bioimageio {
            throw FormatError(
                .unsupported, file: path,
                "BioImage Model Zoo packages are written by UNetBioImage's BioImageExporter, not by the formats")
        }
        let possible = layouts(for: format)
        guard !possible.isEmpty else {
            throw FormatError(
                .unsupported, file: path,
                "writing .keras archives is not supported; write Keras weights (.weights.h5) and load them into the model"
            )
        }
        var notes: [String] = []
        let chosen: String
        if let layout {
            guard possible.contains(layout) else {
                throw FormatError(
                    .unsupported, file: path,
                    "\(format.rawValue) files can be written in the layouts \(possible.joined(separator: ", ")), not \(layout)"
                )
            }
            chosen = layout
        } else if let source = checkpoint.metadata.source?.layout, possible.contains(source) {
            chosen = source
        } else {
            chosen = possible.last!
            if let source = checkpoint.metadata.source?.layout, source != chosen, format != .unetH5 {
                notes.append(
                    "the source layout \(source) cannot be written as \(format.rawValue); using \(chosen) keys")
            }
        }
        switch format {
        case .unetH5:
            notes += try checkpoint.write(to: path, options: options)
        case .pytorch, .safetensors:
            var (entries, stateNotes) = try stateDict(checkpoint, layout: chosen, file: path)
            notes += stateNotes
            if format == .pytorch {
                if let masks = checkpoint.metadata.maskValues { entries.append(("mask_values", .json(masks))) }
                if chosen == CanonicalLayout.name {
                    // No project loads these keys: the file can describe itself as the safetensors export does.
                    entries.append(
                        (
                            ExportMetadataKeys.architecture,
                            .json(.string(try CanonicalJSON.string(checkpoint.architecture)))
                        ))
                    entries.append(
                        (ExportMetadataKeys.metadata, .json(.string(try CanonicalJSON.string(checkpoint.metadata))))
                    )
                } else if chosen == NNUNetLayout.name, NNUNetLayout.isTrainingCheckpoint(path) {
                    entries = try NNUNetLayout.trainingCheckpoint(
                        weights: entries, metadata: checkpoint.metadata, file: path)
                    notes += try writeBesideFiles(NNUNetLayout.self, checkpoint.metadata, weights: path)
                    if NNUNetLayout.besideFiles(for: path, metadata: checkpoint.metadata).isEmpty {
                        notes.append(
                            "plans.json and dataset.json were not written: nnU-Net's predictor finds them one folder "
                                + "above the checkpoint's fold_N folder (<results>/<Trainer>__<Plans>__<configuration>/fold_N/)"
                        )
                    }
                } else {
                    notes.append(
                        "a .pth in the \(chosen) layout keeps the weights and mask_values; other metadata is not written"
                    )
                }
                try PyTorchWriter.write(entries, to: path)
            } else {
                var metadata = ["format": "pt"]
                if let masks = checkpoint.metadata.maskValues {
                    metadata["mask_values"] = try CanonicalJSON.string(masks)
                }
                metadata[ExportMetadataKeys.architecture] = try CanonicalJSON.string(checkpoint.architecture)
                metadata[ExportMetadataKeys.metadata] = try CanonicalJSON.string(checkpoint.metadata)
                if let library = libraryLayouts.first(where: { $0.name == chosen }) {
                    notes += try writeBesideFiles(library, checkpoint.metadata, weights: path)
                }
                try Safetensors.write(entries, metadata: metadata, to: path)
            }
        case .kerasH5, .kerasWeights:
            var model: String?
            let layers: [KerasWriter.Layer]
            if chosen == KerasLayout.graphName {
                (model, layers) = try KerasGraphExport.layers(of: checkpoint, file: path)
            } else {
                try requireKerasFamily(checkpoint.architecture, file: path)
                layers = try KerasWriter.layers(of: checkpoint)
            }
            if format == .kerasWeights {
                try KerasWriter.writeWeights(layers, model: model, to: path)
            } else {
                try KerasWriter.writeLegacy(layers, to: path)
            }
        case .keras, .bioimageio:
            break
        }
        return notes
    }

    /// The tensors (and BatchNorm counters) under a project's keys, after checking that the
    /// architecture is one that project builds.
    static func stateDict(_ checkpoint: Checkpoint, layout name: String, file: String) throws(FormatError)
        -> (entries: [(key: String, value: PyTorchWriter.Value)], notes: [String])
    {
        // A name both a 1.0 layout and a library layout have (monai-basicunet: 2-D and 3-D) is the
        // library's when the checkpoint recorded the library's arguments.
        if let library = libraryLayouts.first(where: { $0.name == name }),
            checkpoint.metadata.source?.arguments != nil || !knownLayouts.contains(where: { $0.name == name })
        {
            return try libraryStateDict(checkpoint, layout: library, file: file)
        }
        guard let layout = knownLayouts.first(where: { $0.name == name }) else {
            throw FormatError(.unsupported, file: file, "unknown layout \(name)")
        }
        guard let architecture = checkpoint.architecture.version1 else {
            throw FormatError(
                .unsupported, file: file,
                "the \(name) layout has no place for this network: it uses what only schema 2.0 describes "
                    + "(\(checkpoint.architecture.featuresBeyondVersion1.joined(separator: ", ")))")
        }
        let depth = architecture.depth
        // PyTorch lists each module's parameters, then its buffers: BatchNorm's counter comes last.
        var entries: [(key: String, value: PyTorchWriter.Value)] = []
        for (spec, tensor) in checkpoint.orderedTensors {
            guard let key = layout.sourceKey(for: spec.key, depth: depth) else {
                throw FormatError(.unsupported, file: file, "the \(name) layout has no place for \(spec.key)")
            }
            entries.append((key, .tensor(tensor)))
            if let counter = batchCounterKey(of: key) {
                entries.append((counter, .int64Scalar(checkpoint.normCounters[spec.layer] ?? 0)))
            }
        }
        // The project must build exactly this network: infer it back from the keys and compare.
        if name != CanonicalLayout.name {
            let inferred = try ArchitectureInference.infer(
                shapes: Dictionary(
                    uniqueKeysWithValues: checkpoint.orderedTensors.map { ($0.spec.key, $0.tensor.shape) }),
                known: layout.architectureDefaults(Set(entries.map(\.key))), file: file)
            let differences = checkpoint.architecture.differences(from: inferred)
            guard differences.isEmpty else {
                throw FormatError(
                    .unsupported, file: file,
                    "this network is not one the \(name) layout describes (\(differences.prefix(4).joined(separator: "; "))); "
                        + "choose another --layout")
            }
        }
        return (entries, [])
    }

    /// The key of BatchNorm's `num_batches_tracked` beside its `running_var`; nil for other keys.
    private static func batchCounterKey(of key: String) -> String? {
        let statistic = "running_var"
        guard key.hasSuffix(".\(statistic)") else { return nil }
        return String(key.dropLast(statistic.count)) + "num_batches_tracked"
    }

    /// Writes the files a library reads beside the weights (each atomically; one already there
    /// is kept when it is the same JSON, else refused before anything is written).
    private static func writeBesideFiles(
        _ layout: any LibraryLayout.Type, _ metadata: CheckpointMetadata, weights path: String
    ) throws -> [String] {
        let files = layout.besideFiles(for: path, metadata: metadata)
        guard !files.isEmpty else { return [] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var pending: [(String, Data)] = []
        for (file, json) in files {
            if let existing = FileManager.default.contents(atPath: file) {
                guard (try? JSONDecoder().decode(JSONValue.self, from: existing)) == json else {
                    throw FormatError(
                        .unsupported, file: file, "already exists with other contents; it is left as it is")
                }
                continue
            }
            pending.append((file, try encoder.encode(json)))
        }
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        for (file, data) in pending {
            try OutputFile.write(to: file) { try $0.append(data) }
        }
        return pending.map { "wrote \($0.0)" }
    }

    /// The state dict a library's module loads with strict loading: every tensor under the
    /// library's keys, second copies under their aliases, BatchNorm counters. The network is
    /// rebuilt from the library arguments the checkpoint recorded and must be this one.
    private static func libraryStateDict(_ checkpoint: Checkpoint, layout: any LibraryLayout.Type, file: String)
        throws(FormatError) -> (entries: [(key: String, value: PyTorchWriter.Value)], notes: [String])
    {
        let source = checkpoint.metadata.source
        guard source?.layout == layout.name, let arguments = source?.arguments else {
            throw FormatError(
                .unsupported, file: file,
                "the \(layout.name) layout is written from the library arguments recorded when a \(layout.name) file "
                    + "was read (metadata.source.arguments); this checkpoint has none")
        }
        let reading = try layout.reading(arguments, file: file)
        try checkpoint.architecture.requireSame(
            as: reading.architecture, builtBy: "its \(layout.library) arguments", file: file,
            otherwise: "choose another --layout")
        let canonicalByKey = Dictionary(reading.keys, uniquingKeysWith: { first, _ in first })
        let aliases = reading.aliases.compactMap { alias in canonicalByKey[alias.of].map { (alias.alias, $0) } }
        var entries: [(key: String, value: PyTorchWriter.Value)] = []
        for (key, canonical) in reading.keys + aliases {
            guard let tensor = checkpoint.tensors[canonical] else {
                throw FormatError(.unsupported, file: file, "the checkpoint has no tensor \(canonical) for \(key)")
            }
            entries.append((key, .tensor(tensor)))
            if let counter = batchCounterKey(of: key) {
                let layer = String(canonical.dropLast(".running_var".count))
                entries.append((counter, .int64Scalar(checkpoint.normCounters[layer] ?? 0)))
            }
        }
        for (key, shape) in reading.unused {
            entries.append(
                (key, .tensor(Tensor(shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *))))))
            if let counter = batchCounterKey(of: key) { entries.append((counter, .int64Scalar(0))) }
        }
        let notes =
            reading.unused.first.map { first in
                [
                    "wrote \(reading.unused.count) tensors of zeros that \(layout.library) builds but never runs "
                        + "(\(first.key), …), so that its strict loading finds every key; they were not kept "
                        + "from the source and cannot change the outputs"
                ]
            } ?? []
        return (entries, notes)
    }

    private static func requireKerasFamily(_ description: UNetArchitecture, file: String) throws(FormatError) {
        guard let architecture = description.version1 else {
            throw FormatError(
                .unsupported, file: file,
                "this network cannot be written as Keras functional weights: it uses "
                    + description.featuresBeyondVersion1.joined(separator: ", "))
        }
        var problems: [String] = []
        if architecture.upsample.kind == .bilinear && architecture.upsample.convKernel == nil {
            problems.append("bilinear up-sampling without a conv")
        }
        if architecture.norm.kind == .instance { problems.append("instance norm") }
        if architecture.skip.merge != .crop { problems.append("\(architecture.skip.merge.rawValue) skip merge") }
        guard problems.isEmpty else {
            throw FormatError(
                .unsupported, file: file,
                "this network cannot be written as Keras functional weights: " + problems.joined(separator: ", "))
        }
    }
}

extension UNetArchitecture {
    /// Refuses to write a library's file for a network that is no longer the one the recorded
    /// description (`what`) builds, naming the first differences.
    func requireSame(as rebuilt: UNetArchitecture, builtBy what: String, file: String, otherwise advice: String)
        throws(FormatError)
    {
        let differences = differences(from: rebuilt)
        guard differences.isEmpty else {
            throw FormatError(
                .unsupported, file: file,
                "this network is no longer the one \(what) builds (\(differences.prefix(4).joined(separator: "; "))); "
                    + advice)
        }
    }

    /// The JSON fields (dotted paths) where two architectures differ, ignoring the name and
    /// what does not change outputs (dropout, norm momentum). Networks that schema 1.0 can say are
    /// compared in its words (`conv.padding is valid, the layout's is same`); others as 2.0 layers.
    func differences(from other: UNetArchitecture) -> [String] {
        func normalized<T: Encodable>(_ value: T) -> JSONValue {
            (try? JSONValue(encoding: value)).map(Self.withoutInformativeFields) ?? .null
        }
        var result: [String] = []
        func compare(_ a: JSONValue, _ b: JSONValue, _ path: String) {
            if case .object(let x) = a, case .object(let y) = b {
                for key in Set(x.keys).union(y.keys).sorted() where key != "name" || !path.isEmpty {
                    compare(x[key] ?? .null, y[key] ?? .null, path.isEmpty ? key : "\(path).\(key)")
                }
            } else if case .array(let x) = a, case .array(let y) = b, x.count == y.count {
                for (index, (p, q)) in zip(x, y).enumerated() { compare(p, q, "\(path)[\(index)]") }
            } else if a != b {
                result.append("\(path) is \(a.compactText), the layout's is \(b.compactText)")
            }
        }
        if let mine = version1, let theirs = other.version1 {
            compare(normalized(mine), normalized(theirs), "")
        } else {
            compare(normalized(self), normalized(other), "")
        }
        return result
    }

    /// The JSON without dropout (layers and 1.0's list) and momentum fields, anywhere.
    private static func withoutInformativeFields(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items):
            return .array(
                items.filter { item in
                    if case .object(let fields) = item, fields["op"] == .string("dropout") { return false }
                    return true
                }.map(withoutInformativeFields))
        case .object(var fields):
            fields["momentum"] = nil
            if case .array? = fields["dropout"] { fields["dropout"] = nil }
            return .object(fields.mapValues(withoutInformativeFields))
        default: return value
        }
    }
}
