import Foundation
import UNetCheckpoint

/// A BioImage Model Zoo model package read as data: a zip holding `rdf.yaml` (or
/// `bioimageio.yaml`, `*.bioimageio.yaml`) and the files it names, or a folder with one. Files are
/// read only from inside the package (a URL or a path leaving it is refused), each checked against
/// the SHA-256 the description gives; nothing the package names is run (an architecture's Python
/// `source` is not even read).
public struct BioImagePackage {
    /// The weight formats unet-ckpt reads from a package, in the order it prefers them.
    public static let readableWeights = ["pytorch_state_dict", "keras_hdf5"]
    /// The names a package's description file may have.
    static let descriptionNames = ["rdf.yaml", "bioimageio.yaml"]

    /// The zip archive, or the description file of a folder package.
    public let path: String
    /// The description (`rdf.yaml`) as JSON values.
    public let description: JSONValue
    /// The description's name inside the package.
    public let descriptionName: String
    private let zip: ZipReader?
    private let folder: URL

    /// Whether a zip's entries are those of a package.
    static func isPackage(entryNames: [String]) -> Bool { descriptionEntry(in: entryNames) != nil }

    /// Whether a path names a package's description file.
    static func isDescriptionFile(_ path: String) -> Bool {
        let name = URL(fileURLWithPath: path).lastPathComponent.lowercased()
        return descriptionNames.contains(name) || name.hasSuffix(".bioimageio.yaml")
    }

    private static func descriptionEntry(in names: [String]) -> String? {
        if let name = descriptionNames.first(where: names.contains) { return name }
        let others = names.filter { !$0.contains("/") && $0.lowercased().hasSuffix(".bioimageio.yaml") }
        return others.count == 1 ? others[0] : nil
    }

    /// Opens a package: a zip, a description file, or a folder holding one.
    public init(path: String) throws(FormatError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(.io, file: path, "no such file")
        }
        let text: String
        if isDirectory.boolValue || Self.isDescriptionFile(path) {
            var file = path
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                guard let name = Self.descriptionEntry(in: names) else {
                    throw FormatError(.unsupported, file: path, "a folder without rdf.yaml or bioimageio.yaml")
                }
                file = URL(fileURLWithPath: path).appendingPathComponent(name).path
            }
            self.path = file
            folder = URL(fileURLWithPath: file).deletingLastPathComponent()
            descriptionName = URL(fileURLWithPath: file).lastPathComponent
            zip = nil
            let input = try InputFile(path: file)
            guard input.size <= YAMLReading.sizeLimit else {
                throw FormatError(.malformed, file: file, "a description larger than \(YAMLReading.sizeLimit) bytes")
            }
            text = String(decoding: try input.read(at: 0, count: input.size), as: UTF8.self)
        } else {
            let reader = try ZipReader(path: path)
            guard let name = Self.descriptionEntry(in: reader.entryNames) else {
                throw FormatError(
                    .unsupported, file: path, "a zip archive without rdf.yaml: not a BioImage Model Zoo package")
            }
            guard let entry = reader.entries[name], entry.uncompressedSize <= YAMLReading.sizeLimit else {
                throw FormatError(.malformed, file: path, "\(name) is larger than \(YAMLReading.sizeLimit) bytes")
            }
            self.path = path
            folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            descriptionName = name
            zip = reader
            text = String(decoding: try reader.read(name), as: UTF8.self)
        }
        let what = zip == nil ? self.path : "\(self.path) (\(descriptionName))"
        description = try Self.parse(text, place: what)
    }

    /// A description alone, with no files (the fuzzer's entry).
    init(text: String, place: String) throws(FormatError) {
        path = place
        descriptionName = BioImageNames.description
        zip = nil
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("unet-ckpt-no-package")
        description = try Self.parse(text, place: place)
    }

    private static func parse(_ text: String, place what: String) throws(FormatError) -> JSONValue {
        let description = try YAMLReading.json(text, file: what)
        guard description.objectValue != nil else {
            throw FormatError(.malformed, file: what, "the description is not a YAML mapping")
        }
        guard description["type"]?.stringValue == "model" else {
            throw FormatError(
                .unsupported, file: what,
                "a BioImage Model Zoo resource of type \(description["type"]?.compactText ?? "(none)"), not a model")
        }
        return description
    }

    /// Where a message about the package points.
    package var place: String { zip == nil ? path : "\(path) (\(descriptionName))" }

    /// The weight formats the description lists, sorted.
    public var weightFormats: [String] { (description["weights"]?.objectValue?.keys).map { $0.sorted() } ?? [] }

    /// The format version the description declares.
    public var formatVersion: String? { description["format_version"]?.stringValue }

    /// The bytes of a file the description names, checked against `sha256` when given.
    package func bytes(of source: String, sha256: String?) throws(FormatError) -> [UInt8] {
        let lower = source.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.contains("://") {
            throw FormatError(
                .unsupported, file: place,
                "\(source) is named by a URL: unet-ckpt reads only the files inside a package (nothing is downloaded)")
        }
        let parts = source.split(separator: "/", omittingEmptySubsequences: false)
        guard !source.isEmpty, !source.hasPrefix("/"), !parts.contains(where: { $0 == ".." || $0.isEmpty }) else {
            throw FormatError(.refused, file: place, "\(source) is not a path inside the package")
        }
        let bytes: [UInt8]
        if let zip {
            let name = source.hasPrefix("./") ? String(source.dropFirst(2)) : source
            guard zip.entries[name] != nil else {
                throw FormatError(.malformed, file: place, "the package has no file \(source)")
            }
            bytes = try zip.read(name)
        } else {
            let file = folder.appendingPathComponent(source).standardizedFileURL
            let resolved = file.resolvingSymlinksInPath().path
            guard resolved.hasPrefix(folder.resolvingSymlinksInPath().path + "/") else {
                throw FormatError(.refused, file: place, "\(source) leads outside the package's folder")
            }
            let input = try InputFile(path: file.path)
            bytes = try input.read(at: 0, count: input.size)
        }
        if let sha256 {
            let actual = FileDigest.sha256(bytes: bytes)
            guard actual == sha256.lowercased() else {
                throw FormatError(
                    .malformed, file: place,
                    "\(source): its SHA-256 is \(actual), the description says \(sha256) (a damaged or changed file)")
            }
        }
        return bytes
    }

    /// Every file the description names with its SHA-256, by where it is named (`weights.onnx`,
    /// `inputs.0.test_tensor`, `covers.0`, …).
    package var namedFiles: [(field: String, source: String, sha256: String?)] {
        var files: [(String, String, String?)] = []
        func add(_ field: String, _ value: JSONValue?) {
            if let (source, sha256) = Self.fileEntry(value) { files.append((field, source, sha256)) }
        }
        add("documentation", description["documentation"])
        for (index, cover) in (description["covers"]?.arrayValue ?? []).enumerated() { add("covers.\(index)", cover) }
        for (index, file) in (description["attachments"]?.arrayValue ?? []).enumerated() {
            add("attachments.\(index)", file)
        }
        for side in ["inputs", "outputs"] {
            for (index, tensor) in (description[side]?.arrayValue ?? []).enumerated() {
                add("\(side).\(index).test_tensor", tensor["test_tensor"])
                add("\(side).\(index).sample_tensor", tensor["sample_tensor"])
            }
        }
        for format in weightFormats { add("weights.\(format)", description["weights"]?[format]) }
        return files
    }

    /// A file entry (`{source, sha256}`, or a bare string) of the description.
    static func fileEntry(_ value: JSONValue?) -> (source: String, sha256: String?)? {
        if let source = value?.stringValue { return (source, nil) }
        guard let source = value?["source"]?.stringValue else { return nil }
        return (source, value?["sha256"]?.stringValue)
    }

    // MARK: - The weights unet-ckpt reads

    /// The weights to read: a unet-ckpt checkpoint the package attaches (what unet-ckpt writes
    /// beside the ONNX weights), else `pytorch_state_dict`, else `keras_hdf5`.
    struct WeightsChoice {
        /// `unet-ckpt` for the attached checkpoint, else the weight format's key.
        let kind: String
        let source: String
        let sha256: String?
        /// Constructor arguments the description gives (`architecture.kwargs`).
        let arguments: JSONValue?
        let callable: String?
        let importFrom: String?
    }

    func weightsChoice() throws(FormatError) -> WeightsChoice {
        for attachment in description["attachments"]?.arrayValue ?? [] {
            guard let (source, sha256) = Self.fileEntry(attachment), source.lowercased().hasSuffix(".h5"),
                attachment["unet_ckpt"] != nil || source == BioImageNames.checkpoint
            else { continue }
            return WeightsChoice(
                kind: "unet-ckpt", source: source, sha256: sha256, arguments: nil, callable: nil, importFrom: nil)
        }
        let weights = description["weights"]?.objectValue ?? [:]
        for format in Self.readableWeights {
            guard let entry = weights[format] else { continue }
            guard let (source, sha256) = Self.fileEntry(entry) else {
                throw FormatError(.malformed, file: place, "weights.\(format) has no source")
            }
            let architecture = entry["architecture"]
            return WeightsChoice(
                kind: format, source: source, sha256: sha256, arguments: architecture?["kwargs"],
                callable: architecture?["callable"]?.stringValue,
                importFrom: architecture?["import_from"]?.stringValue)
        }
        let formats = weightFormats
        throw FormatError(
            .unsupported, file: place,
            "a BioImage Model Zoo package whose weights are "
                + (formats.isEmpty ? "missing" : formats.joined(separator: ", "))
                + ": unet-ckpt reads the weight formats pytorch_state_dict and keras_hdf5 (and the unet-ckpt "
                + "checkpoint its own packages attach)")
    }

    /// The file to read the weights from: the file itself in a folder package, else a copy in a
    /// new temporary folder (`unet-ckpt-bioimageio-…`), which `body` may use until it returns.
    func withWeightsFile<T>(_ choice: WeightsChoice, _ body: (String) throws -> T) throws -> T {
        let bytes = try bytes(of: choice.source, sha256: choice.sha256)
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("unet-ckpt-bioimageio-XXXXXX").path
        var characters = Array(template.utf8CString)
        guard let made = mkdtemp(&characters) else {
            throw FormatError(.io, file: place, "cannot create a temporary folder to read \(choice.source) from")
        }
        let directory = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = URL(fileURLWithPath: choice.source).lastPathComponent
        let file = URL(fileURLWithPath: directory).appendingPathComponent(name.isEmpty ? "weights" : name).path
        guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else {
            throw FormatError(.io, file: place, "cannot write a temporary copy of \(choice.source)")
        }
        return try body(file)
    }

    /// The entries the layouts read beside the weights: the architecture's constructor arguments
    /// (found by the MONAI layouts wherever they are; smp's `Unet` reads them as its
    /// `config.json`).
    func layoutEntries(_ choice: WeightsChoice) -> [String: JSONValue] {
        guard let arguments = choice.arguments, arguments.objectValue != nil else { return [:] }
        var entries = [ModelFolder.architectureArguments: arguments]
        if choice.callable == "Unet", choice.importFrom?.hasPrefix("segmentation_models_pytorch") == true {
            entries[ModelFolder.pretrainedConfig] = arguments
        }
        return entries
    }

    // MARK: - Metadata

    /// The description's fields kept in the metadata (`metadata.bioimageio`), so that a package
    /// written from this checkpoint again has the same name, authors, licence and citations.
    var keptFields: JSONValue {
        var fields: [String: JSONValue] = [:]
        for key in [
            "name", "description", "authors", "maintainers", "cite", "license", "tags", "git_repo", "version", "id",
        ] {
            if let value = description[key], !value.isNull { fields[key] = value }
        }
        return .object(fields)
    }

    /// The first input's fixed normalisation as metadata (`scale_linear` or
    /// `fixed_zero_mean_unit_variance`), or a note why the pre-processing has no such form.
    package func inputNormalization() -> (CheckpointMetadata.InputNormalization?, note: String?) {
        guard let input = description["inputs"]?.arrayValue?.first else { return (nil, nil) }
        let steps = (input["preprocessing"]?.arrayValue ?? []).filter { $0["id"]?.stringValue != "ensure_dtype" }
        guard let step = steps.first else { return (nil, nil) }
        let id = step["id"]?.stringValue ?? "?"
        func values(_ value: JSONValue?) -> [Double]? {
            if let number = value?.doubleValue { return [number] }
            return value?.arrayValue?.compactMap(\.doubleValue)
        }
        if steps.count == 1, let kwargs = step["kwargs"] {
            if id == "scale_linear", let gain = values(kwargs["gain"] ?? .number(1)),
                let offset = values(kwargs["offset"] ?? .number(0)), !gain.contains(0)
            {
                let count = max(gain.count, offset.count)
                let gains = gain.count == 1 ? Array(repeating: gain[0], count: count) : gain
                let offsets = offset.count == 1 ? Array(repeating: offset[0], count: count) : offset
                if gains.count == count, offsets.count == count {
                    // x · g + o = (x − (−o/g)) / (1/g)
                    return (
                        .init(
                            scale: 1, mean: Swift.zip(gains, offsets).map { -$1 / $0 }, std: gains.map { 1 / $0 }), nil
                    )
                }
            }
            if id == "fixed_zero_mean_unit_variance", let mean = values(kwargs["mean"]),
                let std = values(kwargs["std"]),
                mean.count == std.count, !std.contains(0)
            {
                return (.init(scale: 1, mean: mean, std: std), nil)
            }
        }
        let all = steps.compactMap { $0["id"]?.stringValue }.joined(separator: ", ")
        return (
            nil,
            "the package's pre-processing (\(all)) is not a fixed normalisation the metadata can hold; "
                + "give predict --normalize"
        )
    }

    /// The first output's channel names.
    package var outputChannelNames: [String]? {
        let axes = description["outputs"]?.arrayValue?.first?["axes"]?.arrayValue ?? []
        return axes.first { $0["type"]?.stringValue == "channel" }?["channel_names"]?.arrayValue?.compactMap(
            \.stringValue)
    }
}

/// The names of the files unet-ckpt writes into a package.
package enum BioImageNames {
    package static let description = "rdf.yaml"
    package static let onnx = "model.onnx"
    package static let checkpoint = "unet-ckpt.h5"
    package static let testInput = "test_input.npy"
    package static let testOutput = "test_output.npy"
    package static let cover = "cover.png"
    package static let diagram = "unet.svg"
    package static let readme = "README.md"
}
