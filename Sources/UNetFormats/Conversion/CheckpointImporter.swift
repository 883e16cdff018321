import Foundation
import UNetCheckpoint

/// A checkpoint read from any supported format, with what the reading noticed.
public struct ImportedCheckpoint: Sendable {
    public let checkpoint: Checkpoint
    public let format: CheckpointFormat
    /// The key layout recognised (`milesial`, `monai-basicunet`, …) or given by a mapping file.
    public let layout: String
    /// Things worth telling the user: the container and the weights taken from it, a removed
    /// prefix, skipped entries.
    public let notes: [String]
    /// What the file wrapped around the weights, and which copy was taken.
    public var container = ContainerInfo()
    /// The container's other top-level entries as JSON (Lightning's `hyper_parameters`,
    /// nnU-Net's `init_args`, `epoch`, …); empty for a bare state dict.
    public var containerEntries: [String: JSONValue] = [:]
    /// With `digestLater`, what fills in the source's SHA-256 once it is computed (pass it on
    /// as `WriteOptions.completeMetadata`); nil when nothing is pending.
    package var pendingProvenance: MetadataCompletion? = nil
}

/// Reads any supported file into a canonical `Checkpoint`: the format is recognised from the
/// content, the key layout from the keys and shapes, and the whole architecture inferred.
public enum CheckpointImporter {
    /// Reads `path` (a file, or a folder a library saved a model in) as a canonical checkpoint.
    /// - Parameters:
    ///   - path: the file or folder.
    ///   - format: the input format, when it must not be detected.
    ///   - mapping: a mapping file for keys no known layout describes.
    ///   - weights: the copy to take from a file with raw and EMA weights; nil takes the raw one.
    ///   - mapFile: map the file and use its pages in place where tensors lie contiguous and
    ///     uncompressed (unet-ckpt HDF5, PyTorch zip), instead of copies; the file must then stay
    ///     unmodified while the checkpoint is in use (`FileMapping`).
    public static func read(
        _ path: String, format: CheckpointFormat? = nil, mapping: MappingFile? = nil, weights: WeightsChoice? = nil,
        mapFile: Bool = false
    ) throws -> ImportedCheckpoint {
        try read(path, format: format, mapping: mapping, weights: weights, mapFile: mapFile, digestLater: false)
    }

    /// ``read(_:format:mapping:weights:mapFile:)``, and with `digestLater` returning before the
    /// source's SHA-256 (provenance) is computed: the checkpoint's `metadata.source.sha256` is
    /// then nil and `pendingProvenance` fills it in, so a writer can write the tensors meanwhile.
    package static func read(
        _ path: String, format: CheckpointFormat? = nil, mapping: MappingFile? = nil, weights: WeightsChoice? = nil,
        mapFile: Bool = false, digestLater: Bool
    ) throws -> ImportedCheckpoint {
        let (path, entries) = try ModelFolder.resolve(path)
        let format = try format ?? CheckpointFormat.detect(path)
        if format == .bioimageio { return try readPackage(path, mapping: mapping, weights: weights) }
        return try read(
            path, format: format, entries: entries, mapping: mapping, weights: weights, mapFile: mapFile,
            digestLater: digestLater)
    }

    /// ``read(_:format:mapping:weights:mapFile:)`` of a file whose format is known,
    /// with the entries the layouts read beside its weights.
    static func read(
        _ path: String, format: CheckpointFormat, entries: [String: JSONValue], mapping: MappingFile?,
        weights: WeightsChoice?, mapFile: Bool, digestLater: Bool
    ) throws -> ImportedCheckpoint {
        // A foreign file's provenance digest is computed while its tensors are read, from the
        // same mapping when there is one (a second mapping would count its pages twice in RSS).
        let fileMapping = mapFile && format == .pytorch ? try? FileMapping(path: path) : nil
        let digest = format == .unetH5 ? nil : PendingDigest(path: path, mapping: fileMapping)
        guard var source = try foreignTensors(path, format: format, weights: weights, mapping: fileMapping),
            let digest
        else {
            let checkpoint = try CheckpointFile(path: path).read(mapped: mapFile)
            return ImportedCheckpoint(
                checkpoint: checkpoint, format: format, layout: CanonicalLayout.name, notes: [])
        }
        var notes = containerNotes(source)
        let plan = try KeyPlan.make(for: &source, mapping: mapping, file: path, notes: &notes, entries: entries)
        var checkpoint = try plan.checkpoint(from: source, file: path)
        checkpoint.metadata = try metadata(
            from: source, format: format, layout: plan.layout, path: path, base: checkpoint.metadata,
            digest: digestLater ? nil : { () throws(FormatError) in try digest.value() })
        plan.library?.describe(in: &checkpoint.metadata, layout: plan.layout)
        checkpoint.metadata.additionalFields.merge(plan.metadataFields) { _, recorded in recorded }
        // Provenance recorded here without its digest gets it once the digest is computed.
        let pending =
            digestLater && checkpoint.metadata.source?.sha256 == nil
            ? MetadataCompletion { metadata in metadata.source?.sha256 = try digest.value() } : nil
        return ImportedCheckpoint(
            checkpoint: checkpoint, format: format, layout: plan.layout, notes: notes, container: source.container,
            containerEntries: source.containerEntries, pendingProvenance: pending)
    }

    /// Reads any supported file as canonical-keyed tensors for a comparison, without requiring
    /// them to make a whole architecture: a file with a tensor removed or added (an edited state
    /// dict) is read too. The keys are mapped through the layout most of them follow; keys it
    /// does not map, and what the architecture (carried by the file, or inferred when the
    /// tensors allow it) misses or does not have, become `CheckpointContents.notes`.
    ///
    /// unet-ckpt files are opened as `CheckpointFile` (their tensors read on demand); they
    /// must be valid.
    /// - Returns: the contents and the layout recognised.
    public static func readContents(
        _ path: String, format: CheckpointFormat? = nil, mapping: MappingFile? = nil, weights: WeightsChoice? = nil
    ) throws -> (contents: CheckpointContents, format: CheckpointFormat, layout: String) {
        let (path, entries) = try ModelFolder.resolve(path)
        let format = try format ?? CheckpointFormat.detect(path)
        if format == .bioimageio { return try readPackageContents(path, mapping: mapping, weights: weights) }
        return try readContents(path, format: format, entries: entries, mapping: mapping, weights: weights)
    }

    static func readContents(
        _ path: String, format: CheckpointFormat, entries: [String: JSONValue], mapping: MappingFile?,
        weights: WeightsChoice?
    ) throws -> (contents: CheckpointContents, format: CheckpointFormat, layout: String) {
        guard var source = try foreignTensors(path, format: format, weights: weights) else {
            return (CheckpointContents(try CheckpointFile(path: path)), format, CanonicalLayout.name)
        }
        var notes = containerNotes(source)
        let plan = try KeyPlan.make(
            for: &source, mapping: mapping, file: path, notes: &notes, entries: entries, lenient: true)
        notes += plan.unmapped.map { "\($0) is not part of the \(plan.layout) layout (compared under its own key)" }
        var tensors = plan.canonicalTensors(from: source)
        for key in plan.unmapped { tensors[key] = tensors[key] ?? source.tensor(key) }
        var architecture: UNetArchitecture?
        do {
            architecture = try plan.architecture(for: tensors, file: path)
        } catch {
            notes.append(error.message)
        }
        let metadata = try metadata(
            from: source, format: format, layout: plan.layout, path: path, base: CheckpointMetadata(),
            digest: { () throws(FormatError) in try FileDigest.sha256(path) })
        let contents = CheckpointContents(
            tensors: tensors, architecture: architecture, metadata: metadata,
            normCounters: plan.normCounters(from: source), notes: notes)
        return (contents, format, plan.layout)
    }

    /// The tensors of a foreign file under the bare model's keys (wrapper prefixes removed, one
    /// copy of the weights chosen); nil for a unet-ckpt file.
    static func foreignTensors(
        _ path: String, format: CheckpointFormat, weights: WeightsChoice? = nil, mapping: FileMapping? = nil
    ) throws -> SourceTensors? {
        switch format {
        case .unetH5:
            return nil
        case .pytorch:
            return try PyTorchReader.read(path, weights: weights, mapping: mapping)
        case .safetensors:
            var source = try Safetensors.read(path)
            try source.selectWeights(weights, file: path)
            return source
        case .kerasH5, .kerasWeights, .keras:
            if weights == .ema {
                throw FormatError(.unsupported, file: path, "--weights ema: a Keras file holds no EMA weights")
            }
            return try KerasReader.read(path, format: format)
        case .bioimageio:
            throw FormatError(.unsupported, file: path, "a BioImage Model Zoo package is read through its weights")
        }
    }

    /// The container's summary, the entries kept as metadata, and the skipped entries.
    private static func containerNotes(_ source: SourceTensors) -> [String] {
        var notes = source.container.summary.map { [$0] } ?? []
        let kept = source.containerEntries.keys.filter { keptAsMetadata($0, source.containerEntries[$0]!) }.sorted()
        if !kept.isEmpty { notes.append("kept \(kept.joined(separator: ", ")) as metadata") }
        let others = source.containerEntries.keys.filter { !kept.contains($0) }.sorted()
        if !others.isEmpty { notes.append("read \(others.joined(separator: ", ")) as container entries (not stored)") }
        return notes + source.skipped.map { "skipped \($0)" }
    }

    /// Container entries that go into `metadata.user`: Lightning's `hyper_parameters` and plain values.
    private static func keptAsMetadata(_ key: String, _ value: JSONValue) -> Bool {
        switch value {
        case .bool, .number, .string: true
        case .object, .array, .null: key == "hyper_parameters"
        }
    }

    /// Metadata carried by the source (mask values, our own metadata in exports) and provenance;
    /// without `digest`, provenance is recorded with no SHA-256 yet.
    private static func metadata(
        from source: SourceTensors, format: CheckpointFormat, layout: String, path: String, base: CheckpointMetadata,
        digest: (() throws(FormatError) -> String)?
    ) throws(FormatError) -> CheckpointMetadata {
        var metadata = base
        var extras = source.extras
        if case .string(let text)? = extras.removeValue(forKey: ExportMetadataKeys.metadata),
            let decoded = try? JSONDecoder().decode(CheckpointMetadata.self, from: Data(text.utf8))
        {
            metadata = decoded
        }
        extras.removeValue(forKey: ExportMetadataKeys.architecture)
        if let masks = extras.removeValue(forKey: "mask_values") { metadata.maskValues = masks }
        extras.removeValue(forKey: "format")  // safetensors' {"format": "pt"}
        for (key, value) in extras.sorted(by: { $0.key < $1.key }) {
            var user = metadata.user ?? [:]
            user[key] = value.compactText
            metadata.user = user
        }
        for (key, value) in source.containerEntries.sorted(by: { $0.key < $1.key }) where keptAsMetadata(key, value) {
            var user = metadata.user ?? [:]
            user[key] = value.jsonText
            metadata.user = user
        }
        // The first conversion records where the weights came from; later ones keep that.
        if metadata.source == nil || format != .unetH5 && metadata.source?.sha256 == nil {
            metadata.source = CheckpointMetadata.Source(
                format: format.rawValue, layout: layout, fileName: URL(fileURLWithPath: path).lastPathComponent,
                sha256: try digest?())
            metadata.source?.container = source.container.summary
        }
        return metadata
    }
}

extension JSONValue {
    /// Compact JSON with sorted keys (strings as themselves, not quoted).
    fileprivate var jsonText: String {
        if case .string(let text) = self { return text }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? compactText
    }
}

/// Keys under which unet-ckpt stores its own documents in a safetensors `__metadata__`.
enum ExportMetadataKeys {
    static let architecture = "unet_ckpt_architecture"
    static let metadata = "unet_ckpt_metadata"
}
