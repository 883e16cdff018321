import Foundation
import UNetCheckpoint

/// A checkpoint read from any supported format, with what the reading noticed.
public struct ImportedCheckpoint: Sendable {
    public let checkpoint: Checkpoint
    public let format: CheckpointFormat
    /// The key layout recognised (`milesial`, `monai-basicunet`, …) or given by a mapping file.
    public let layout: String
    /// Things worth telling the user: skipped entries, a stripped `module.` prefix.
    public let notes: [String]
}

/// Reads any supported file into a canonical ``Checkpoint``: the format is recognised from the
/// content, the key layout from the keys and shapes, and the whole architecture inferred.
public enum CheckpointImporter {
    /// - Parameters:
    ///   - format: the input format, when it must not be detected.
    ///   - mapping: a mapping file for keys no known layout describes.
    public static func read(_ path: String, format: CheckpointFormat? = nil, mapping: MappingFile? = nil) throws
        -> ImportedCheckpoint
    {
        let format = try format ?? CheckpointFormat.detect(path)
        var source: SourceTensors
        switch format {
        case .unetH5:
            let checkpoint = try CheckpointFile(path: path).read()
            return ImportedCheckpoint(
                checkpoint: checkpoint, format: format, layout: CanonicalLayout.name, notes: [])
        case .pytorch: source = try PyTorchReader.read(path)
        case .safetensors: source = try Safetensors.read(path)
        case .kerasH5, .kerasWeights, .keras: source = try KerasReader.read(path, format: format)
        case .onnx: throw CheckpointFormat.exportOnly(path)
        }
        var notes = source.skipped.map { "skipped \($0)" }
        let plan = try KeyPlan.make(for: &source, mapping: mapping, file: path, notes: &notes)
        var checkpoint = try plan.checkpoint(from: source, file: path)
        checkpoint.metadata = try metadata(
            from: source, format: format, layout: plan.layout, path: path, base: checkpoint.metadata)
        return ImportedCheckpoint(checkpoint: checkpoint, format: format, layout: plan.layout, notes: notes)
    }

    /// Metadata carried by the source (mask values, our own metadata in exports) and provenance.
    private static func metadata(
        from source: SourceTensors, format: CheckpointFormat, layout: String, path: String, base: CheckpointMetadata
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
        // The first conversion records where the weights came from; later ones keep that.
        if metadata.source == nil || format != .unetH5 && metadata.source?.sha256 == nil {
            metadata.source = CheckpointMetadata.Source(
                format: format.rawValue, layout: layout, fileName: URL(fileURLWithPath: path).lastPathComponent,
                sha256: try FileDigest.sha256(path))
        }
        return metadata
    }
}

/// Keys under which unet-ckpt stores its own documents in a safetensors `__metadata__`.
enum ExportMetadataKeys {
    static let architecture = "unet_ckpt_architecture"
    static let metadata = "unet_ckpt_metadata"
}
