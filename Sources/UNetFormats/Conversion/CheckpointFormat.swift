import HDF5
import UNetCheckpoint

/// The file formats unet-ckpt reads and writes.
public enum CheckpointFormat: String, CaseIterable, Sendable {
    /// unet-ckpt's own HDF5 schema (docs/format.md).
    case unetH5 = "unet-h5"
    /// A `torch.save` checkpoint (`.pth`, `.pt`, `.ckpt`): a zip or the legacy pre-1.6 format,
    /// holding a state dict, a training dict, a pickled module, or a TorchScript archive.
    case pytorch
    case safetensors
    /// Keras' legacy HDF5 (`model.save("x.h5")`, or `save_weights` of Keras 2).
    case kerasH5 = "keras-h5"
    /// Keras 3 `save_weights("x.weights.h5")`.
    case kerasWeights = "keras-weights"
    /// Keras 3 `model.save("x.keras")`: a zip with the config and the weights.
    case keras
    /// A BioImage Model Zoo model package (`.bioimageio.zip`, or a folder or `rdf.yaml`): written
    /// by UNetBioImage, read through the weights it holds that unet-ckpt reads (docs/bioimageio.md).
    case bioimageio

    /// The format an output path asks for by its extension.
    public init?(outputPath path: String) {
        let lower = path.lowercased()
        if lower.hasSuffix(".bioimageio.zip") {
            self = .bioimageio
        } else if lower.hasSuffix(".weights.h5") {
            self = .kerasWeights
        } else if lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") {
            self = .unetH5
        } else if lower.hasSuffix(".pth") || lower.hasSuffix(".pt") {
            self = .pytorch
        } else if lower.hasSuffix(".safetensors") {
            self = .safetensors
        } else if lower.hasSuffix(".keras") {
            self = .keras
        } else {
            return nil
        }
    }

    /// Recognises a file's format from its content (magic bytes and structure), not its name.
    public static func detect(_ path: String) throws(FormatError) -> CheckpointFormat {
        let file = try InputFile(path: path)
        let head = try file.prefix(16)
        let hdf5: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        if head.starts(with: hdf5) { return try detectHDF5(path) }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            let zip = try ZipReader(path: path)
            if zip.entryNames.contains(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }) { return .pytorch }
            if zip.entries["config.json"] != nil && zip.entries["model.weights.h5"] != nil { return .keras }
            if BioImagePackage.isPackage(entryNames: zip.entryNames) { return .bioimageio }
            throw FormatError(
                .unsupported, file: path,
                "a zip archive that is neither a PyTorch checkpoint, a .keras file nor a BioImage Model Zoo package")
        }
        if head.count >= 9, head[8] == UInt8(ascii: "{") {
            // The header's own checks (length cap, JSON) give the precise error when it is bad.
            return .safetensors
        }
        if path.lowercased().hasSuffix(".onnx") || looksLikeONNX(head) { throw exportOnly(path) }
        if BioImagePackage.isDescriptionFile(path) { return .bioimageio }
        if LegacyPyTorch.isLegacy(head) { return .pytorch }
        if head.first == 0x80 {
            throw FormatError(
                .unsupported, file: path,
                "a bare pickle that is not a torch.save checkpoint (no legacy torch.save magic number)")
        }
        if file.size == 0 { throw FormatError(.unsupported, file: path, "the file is empty") }
        throw FormatError(
            .unsupported, file: path, "not a checkpoint format unet-ckpt knows (HDF5, PyTorch, safetensors, .keras)"
        )
    }

    /// The error for reading a file of a format unet-ckpt only writes.
    package static func exportOnly(_ path: String) -> FormatError {
        FormatError(
            .unsupported, file: path,
            "an ONNX model: ONNX is an export-only format for unet-ckpt (it writes .onnx files but does not read "
                + "weights back from them); convert from the checkpoint the model was exported from")
    }

    /// Whether the first bytes are those of an ONNX `ModelProto`: field 1 (`ir_version`, a small
    /// varint) followed by another of its fields (producer, domain, version, doc, graph, opsets).
    private static func looksLikeONNX(_ head: [UInt8]) -> Bool {
        head.count >= 3 && head[0] == 0x08 && (3...20).contains(head[1])
            && [0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42].contains(head[2])
    }

    private static func detectHDF5(_ path: String) throws(FormatError) -> CheckpointFormat {
        do {
            let root = try HDF5File.open(path).root()
            if try root.hasAttribute("format") { return .unetH5 }
            if try root.hasAttribute("layer_names") || root.contains("model_weights") { return .kerasH5 }
            if try root.contains("layers") || root.contains("vars") { return .kerasWeights }
        } catch let error as HDF5Error {
            throw FormatError(.malformed, file: path, "a damaged HDF5 file", cause: error.description)
        } catch {
            throw FormatError(.malformed, file: path, "a damaged HDF5 file", cause: "\(error)")
        }
        throw FormatError(
            .unsupported, file: path, "an HDF5 file that is neither a unet-ckpt checkpoint nor a Keras file")
    }
}
