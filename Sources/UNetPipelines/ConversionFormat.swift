import UNetFormats

/// The formats `convert` names (`--from`, `--to`): the checkpoint formats UNetFormats reads and
/// writes, ONNX (written by UNetONNX, never read), and BioImage Model Zoo packages (written by
/// UNetBioImage, read by UNetFormats as `CheckpointFormat.bioimageio`).
public enum ConversionFormat: Hashable, Sendable {
    case checkpoint(CheckpointFormat)
    case onnx
    case bioImagePackage

    /// Every name, in the order `convert --help` lists them.
    public static let names: [String] =
        CheckpointFormat.allCases.filter { $0 != .bioimageio }.map(\.rawValue) + ["onnx", "bioimageio"]

    /// The format of a name (`unet-h5`, `pytorch`, …, `onnx`, `bioimageio`).
    public init?(name: String) {
        switch name {
        case "onnx": self = .onnx
        case CheckpointFormat.bioimageio.rawValue: self = .bioImagePackage
        default:
            guard let format = CheckpointFormat(rawValue: name) else { return nil }
            self = .checkpoint(format)
        }
    }

    /// The format an output path asks for by its extension.
    public init?(outputPath path: String) {
        if path.lowercased().hasSuffix(".onnx") {
            self = .onnx
        } else if let format = CheckpointFormat(outputPath: path) {
            self = format == .bioimageio ? .bioImagePackage : .checkpoint(format)
        } else {
            return nil
        }
    }

    /// The format's name.
    public var name: String {
        switch self {
        case .checkpoint(let format): format.rawValue
        case .onnx: "onnx"
        case .bioImagePackage: CheckpointFormat.bioimageio.rawValue
        }
    }

    /// The format a file of this one is read as; ONNX is refused as export-only.
    func readable(_ path: String) throws -> CheckpointFormat {
        switch self {
        case .checkpoint(let format): format
        case .onnx: throw CheckpointFormat.exportOnly(path)
        case .bioImagePackage: .bioimageio
        }
    }
}
